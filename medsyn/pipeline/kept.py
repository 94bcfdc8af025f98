"""The kept set: the notes of a finished run that pass the filters `medsyn evaluate` applies (one
implementation, `medsyn.quality.filters`), as a dataset of its own in RUN/kept/.

    manifest = write_kept(RunDir("runs/notes"), notes="train.jsonl", filters=FilterConfig())
    result = read_kept("runs/notes", real_texts, real_codes, FilterConfig(), seed=0)  # None: filter anew

RUN/kept/ holds `notes.parquet` (the kept notes with every column of the shards), `reasons.parquet`
(note_id, filter_reason: null for a kept note, else the filter that removed it) and `manifest.json`
(written last: the filters, the real notes they consulted, the funnel and a per-code table).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medsyn.pipeline.rundir import RunDir
from medsyn.quality.filters import FilterConfig, FilterResult, apply_filters
from medsyn.storage import Location

KEPT = "kept"
NOTES_FILE = "notes.parquet"
REASONS_FILE = "reasons.parquet"
MANIFEST = "manifest.json"
FILTER_SEED = 0
"""The filters' seed (near-duplicate hashing) in the kept set: `medsyn evaluate`'s default seed, so that
the evaluation reuses the kept set as it is."""


def real_fingerprint(texts: list[str], codes: list[str]) -> str:
    """A fingerprint of the real notes the filters consult (copies of real notes, disagreement)."""
    digest = hashlib.sha256()
    for text, code in zip(texts, codes, strict=True):
        digest.update(f"{code}\t{text}\n".encode())
    return digest.hexdigest()


def write_kept(
    run: RunDir,
    *,
    notes: str | None,
    filters: FilterConfig,
    test: list[str] | None = None,
    kg: str | None = None,
    language: str = "ru",
    text_column: str | None = None,
    code_column: str = "code",
) -> dict[str, Any]:
    """Filter a complete run's notes against the real notes `notes` (the train split, as in
    `medsyn evaluate --train`), remove the notes that copy a note of the `test` files, and write
    RUN/kept/; returns its manifest."""
    from medsyn.evaluate.synthetic import read_synthetic
    from medsyn.notes import load_notes

    table = read_synthetic(run.out.uri, allow_dry_run=True)
    real_texts: list[str] = []
    real_codes: list[str] = []
    if notes:
        real = load_notes(notes, text_column=text_column, code_column=code_column)
        real_texts, real_codes = real["text"].to_pylist(), [str(c) for c in real["code"].to_pylist()]
    test_sets, test_texts = [], []
    for path in test or []:
        texts = load_notes(path, text_column=text_column, code_column=code_column)["text"].to_pylist()
        test_sets.append({"path": str(path), "n": len(texts), "fingerprint": test_fingerprint(texts)})
        test_texts += texts
    symptom_codes = symptom_index(kg, language)
    result = apply_filters(
        table,
        real_texts,
        filters,
        real_codes=real_codes,
        seed=FILTER_SEED,
        test_texts=test_texts,
        symptom_codes=symptom_codes,
    )
    kept_ids = pa.array(result.kept["note_id"].to_pylist(), pa.string())
    rows = run.read()
    kept_rows = rows.filter(pc.is_in(rows["note_id"], value_set=kept_ids))
    kept_rows = kept_rows.sort_by("row") if "row" in kept_rows.column_names else kept_rows
    if symptom_codes is not None:  # the KG consistency column: each note's off-code symptoms
        off = [symptom_codes.off_code(t or "", c) for t, c in zip(*_text_codes(kept_rows), strict=True)]
        kept_rows = kept_rows.append_column("off_code_symptoms", pa.array(off, pa.list_(pa.string())))
    out = run.out.join(KEPT)
    out.join(NOTES_FILE).write_parquet(kept_rows)
    reasons = table.select(["note_id", "code"]).append_column(
        "filter_reason", pa.array(result.reasons, pa.string())
    )
    out.join(REASONS_FILE).write_parquet(reasons)
    manifest = {
        "notes": kept_rows.num_rows,
        "rows": table.num_rows,
        "filters": asdict(filters),
        "filter_seed": FILTER_SEED,
        "real_notes": {
            "path": str(notes) if notes else None,
            "n": len(real_texts),
            "fingerprint": real_fingerprint(real_texts, real_codes),
        },
        "test_sets": test_sets,
        "test_fingerprint": test_fingerprint(test_texts),
        "funnel": result.funnel,
        "per_code": per_code(table["code"].to_pylist(), result.reasons),
        "files": [NOTES_FILE, REASONS_FILE],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.join(MANIFEST).write_json(manifest)
    return manifest


def symptom_index(kg: str | None, language: str) -> Any:
    """The MKG's symptom-to-codes index (None without a KG)."""
    if not kg:
        return None
    from medsyn.kg import open_kg
    from medsyn.quality.kg_consistency import SymptomCodes

    return SymptomCodes.from_kg(open_kg(kg), language)


def _text_codes(table: pa.Table) -> tuple[list[str], list[str]]:
    from medsyn.icd import category

    return table["text"].to_pylist(), [category(c) if c else c for c in table["code"].to_pylist()]


def test_fingerprint(texts: list[str]) -> str:
    """A fingerprint of the test notes a kept set was checked against (the same for none)."""
    from medsyn.quality.decontamination import fingerprint

    return fingerprint(texts)


def per_code(codes: list[str], reasons: list[str | None]) -> dict[str, dict[str, Any]]:
    """Per code: attempts, kept, pass rate and the reasons notes were removed (most frequent first)."""
    table: dict[str, dict[str, Any]] = {}
    removed: dict[str, Counter[str]] = {}
    for code, reason in zip(codes, reasons, strict=True):
        row = table.setdefault(code, {"attempts": 0, "kept": 0})
        row["attempts"] += 1
        if reason is None:
            row["kept"] += 1
        else:
            removed.setdefault(code, Counter())[reason] += 1
    for code, row in table.items():
        row["pass_rate"] = round(row["kept"] / row["attempts"], 4)
        row["removed"] = dict(removed.get(code, Counter()).most_common())
    return dict(sorted(table.items()))


def read_manifest(run: str | Location) -> dict[str, Any] | None:
    """RUN/kept/manifest.json, or None where the run has no (complete) kept set."""
    loc = run if isinstance(run, Location) else Location.parse(run, option="--synthetic")
    manifest = loc.join(KEPT).join(MANIFEST)
    return manifest.read_json() if manifest.is_file() else None


def read_kept(
    run: str,
    table: pa.Table,
    real_texts: list[str],
    real_codes: list[str],
    filters: FilterConfig,
    *,
    seed: int,
    test_texts: list[str] | None = None,
) -> FilterResult | None:
    """The run's kept set as the filters' result over `table` (the run's rows as `read_synthetic` gives
    them), when it was made with these filters, this seed, these real notes and these test notes; else
    None (filter anew)."""
    manifest = read_manifest(run)
    if manifest is None:
        return None
    same = (
        manifest["filters"] == asdict(filters)
        and manifest["filter_seed"] == seed
        and manifest["real_notes"]["fingerprint"] == real_fingerprint(real_texts, real_codes)
        and manifest.get("test_fingerprint") == test_fingerprint(test_texts or [])
    )
    if not same:
        return None
    loc = Location.parse(run, option="--synthetic").join(KEPT)
    reasons_table = loc.join(REASONS_FILE).read_parquet()
    by_id = dict(
        zip(reasons_table["note_id"].to_pylist(), reasons_table["filter_reason"].to_pylist(), strict=True)
    )
    ids = table["note_id"].to_pylist()
    if set(ids) != set(by_id):
        return None  # the run changed since its kept set was written
    reasons = [by_id[i] for i in ids]
    kept = table.filter(pa.array([r is None for r in reasons]))
    return FilterResult(kept=kept, reasons=reasons, funnel=manifest["funnel"])


EXPORT_FORMATS = ("jsonl", "csv", "parquet")


def run_config(loc: Location) -> dict[str, Any] | None:
    """The options a run (run.json) or a quota run (quota.json) was made with; None for neither."""
    for name in ("run.json", "quota.json"):
        if loc.join(name).is_file():
            return dict(loc.join(name).read_json()["config"])
    return None


def export_kept(run: str, fmt: str, out: str, *, overwrite: bool = False) -> int:
    """Write a run's kept set to `out` in the real notes' own layout: their text, code and id columns under
    the names the run's `--notes` had (else text, code, note_id), ready to concatenate with them.
    Returns the number of notes written."""
    import io
    import json

    from medsyn.errors import ConfigError, DataError
    from medsyn.notes import note_columns

    if fmt not in EXPORT_FORMATS:
        valid = ", ".join(EXPORT_FORMATS)
        raise ConfigError(f"--format {fmt!r} is not valid; use one of {valid}", option="format")
    rundir = RunDir(run, option="RUN")
    info = run_config(rundir.out)
    if info is None:
        raise DataError(f"{run} is not a generation run directory (no run.json, no quota.json)")
    notes_file = rundir.out.join(KEPT).join(NOTES_FILE)
    if read_manifest(rundir.out) is None or not notes_file.is_file():
        raise DataError(
            f"{run} has no kept set (kept/manifest.json): the run is not complete, or was made with "
            "--no-kept or before kept sets existed; rerun `medsyn generate` with the same --out to finish it"
        )
    target = Location.parse(out, option="--out")
    if target.exists() and not overwrite:
        raise ConfigError(f"--out {out!r} exists: pass --overwrite to replace it", option="out")
    config = info
    text, code, note_id = "text", "code", "note_id"
    if config.get("notes"):
        text, code, found_id = note_columns(
            config["notes"],
            text_column=config.get("text_column"),
            code_column=config.get("code_column", "code"),
        )
        note_id = found_id or note_id
    kept = notes_file.read_parquet()
    table = pa.table({note_id: kept["note_id"], code: kept["code"], text: kept["text"]})
    if fmt == "parquet":
        target.write_parquet(table)
    elif fmt == "jsonl":
        lines = (json.dumps(row, ensure_ascii=False) for row in table.to_pylist())
        target.write_text("".join(f"{line}\n" for line in lines))
    else:
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        target.write_text(buffer.getvalue().decode("utf-8"))
    return table.num_rows
