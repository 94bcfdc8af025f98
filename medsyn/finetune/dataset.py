"""The instruction dataset for fine-tuning, built on Ray Data from real training notes and the MKG.

    medsyn finetune-data --notes train.jsonl --kg runs/kg --out runs/sft      # writes train/ and val/ Parquet

Per note (Ray Data map over the notes): note_from_symptoms and continuation at 1/2, 1/3, 1/4. Per code
of the notes: symptom-list continuation and MKG questions (symptoms, drugs, diseases sharing symptoms
within 1..max_hops hops). Optionally generated notes that passed the quality filters (symptom recall,
no copy). A seeded hash of each sample sends `val_fraction` of samples to the held-out split.
Pass the training split only: no dev or test note may be given here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError, DataError
from medsyn.finetune.tasks import TASKS, Task, code_tasks, note_tasks, related_codes
from medsyn.storage import Location, atomic_dir, staged_dir

NOTE_TASKS = ("note_from_title_symptoms", "note_from_example", "note_from_symptoms", "continuation")

SCHEMA = pa.schema(
    [
        ("task", pa.string()),
        ("language", pa.string()),
        ("instruction", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("source", pa.string()),
        ("code", pa.string()),
        ("note_id", pa.string()),
        ("split", pa.string()),
    ]
)


@dataclass
class DatasetConfig:
    notes: str | None = option(
        None, help="real training notes (JSONL/CSV/Parquet, a path or URI; the train split only)"
    )
    kg: str | None = option(None, help="KG: 'demo', a KG directory, or a Neo4j URI (default: demo)")
    out: str | None = option(
        None, help="output directory (a path or URI) for the dataset (train/ and val/ Parquet)"
    )
    overwrite: bool = option(False, help="replace an existing dataset in --out")
    language: Literal["ru", "en"] = option("ru", help="language of instructions and MKG facts")
    tasks: list[Task] = option(default_factory=lambda: list(TASKS), help="tasks to build")
    max_hops: int = option(3, help="kg_related: most hops through shared symptoms")
    max_related: int = option(20, help="kg_related: most diseases listed per hop")
    synthetic: list[str] = option(
        default_factory=list, help="generation run directories whose notes join note_from_symptoms"
    )
    example_max_words: int = option(
        60, help="note_from_example: examples are real notes of at most this many words (0: any)"
    )
    allow_dry_run: bool = option(
        False, help="accept --synthetic runs written by engine dry-run (placeholders)"
    )
    min_symptom_recall: float = option(1.0, help="synthetic notes: least symptom recall to be used")
    max_notes_per_code: int = option(
        0,
        help="note tasks: at most this many real notes per code, a seeded choice (0: all); a cap gives "
        "rare codes a larger share of the training notes",
    )
    val_fraction: float = option(0.05, help="share of samples held out for the validation loss")
    seed: int = option(0, help="seed of paraphrase choice and the train/val split")
    text_column: str | None = option(None, help="text column of the notes (default: text, note or symptoms)")

    def __post_init__(self) -> None:
        check_choices(self)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(
                f"val_fraction must be in [0, 1), got {self.val_fraction}", option="val_fraction"
            )
        if self.max_notes_per_code < 0:
            raise ConfigError(
                f"max_notes_per_code must be >= 0 (0: all), got {self.max_notes_per_code}",
                option="max_notes_per_code",
            )


def _split(s: dict[str, Any], fraction: float, seed: int) -> str:
    # Whole notes go to one split (all their tasks), MKG samples by (task, code, input).
    key = (
        f"{seed}\x1fnote\x1f{s['note_id']}"
        if s["note_id"]
        else f"{seed}\x1f{s['task']}\x1f{s['code']}\x1f{s['input']}"
    )
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "val" if value < fraction else "train"


class NoteSamples:
    """Ray Data map_batches callable: a batch of notes -> their samples (the KG symptoms are passed in,
    and for note_from_example the real notes of each code, as (note_id, text))."""

    def __init__(
        self,
        symptoms: dict[str, list[str]],
        titles: dict[str, str],
        config: DatasetConfig,
        examples: dict[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        self.symptoms, self.titles, self.config = symptoms, titles, config
        cap = config.example_max_words
        # Per code, once: the notes short enough to be examples, and where each id and text sits.
        self.examples = {
            code: [(i, t) for i, t in pairs if not cap or len(t.split()) <= cap]
            for code, pairs in (examples or {}).items()
        }
        self.positions: dict[str, dict[str, list[int]]] = {}
        for code, pairs in self.examples.items():
            where: dict[str, list[int]] = {}
            for k, (i, t) in enumerate(pairs):
                where.setdefault("id\x1f" + i, []).append(k)
                where.setdefault("text\x1f" + t.strip(), []).append(k)
            self.positions[code] = where

    def example_for(self, note_id: str, code: str, text: str) -> str | None:
        """Another real note of the code (never the note itself or a copy of its text), by a seeded hash:
        the k-th of the code's eligible notes once those are left out (no per-note scan of the code)."""
        eligible = self.examples.get(code, [])
        where = self.positions.get(code, {})
        left_out = sorted(
            set(where.get("id\x1f" + note_id, [])) | set(where.get("text\x1f" + text.strip(), []))
        )
        if len(eligible) == len(left_out):
            return None
        key = f"{self.config.seed}\x1fexample\x1f{note_id}".encode()
        k = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % (len(eligible) - len(left_out))
        for position in left_out:  # skip the left-out positions at or before the k-th kept one
            if position <= k:
                k += 1
        return eligible[k][1]

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        rows: list[dict[str, Any]] = []
        for note_id, code, text, source in zip(
            batch["note_id"], batch["code"], batch["text"], batch["source"], strict=True
        ):
            samples = note_tasks(
                str(note_id),
                str(code),
                str(text),
                self.symptoms.get(str(code), []),
                language=self.config.language,
                seed=self.config.seed,
                source=str(source),
                title=self.titles.get(str(code)),
                example=self.example_for(str(note_id), str(code), str(text)) if self.examples else None,
            )
            rows += [s for s in samples if s["task"] in self.config.tasks]
        return {name: [r.get(name) for r in rows] for name in SCHEMA.names if name != "split"}


def _synthetic_notes(config: DatasetConfig) -> list[dict[str, Any]]:
    from medsyn.evaluate.synthetic import read_synthetic

    rows = []
    for path in config.synthetic:
        for r in read_synthetic(path, allow_dry_run=config.allow_dry_run).to_pylist():
            recall = r.get("symptom_recall")
            if r.get("error") or not r.get("text") or recall is None or recall < config.min_symptom_recall:
                continue
            rows.append(
                {"note_id": r["note_id"], "code": r["code"], "text": r["text"], "source": "synthetic"}
            )
    return rows


def _capped(notes: list[dict[str, Any]], cap: int, seed: int) -> list[dict[str, Any]]:
    """At most `cap` notes per code: those first in a seeded hash order of their ids (input order kept)."""

    def rank(note: dict[str, Any]) -> bytes:
        return hashlib.sha256(f"{seed}\x1fcap\x1f{note['note_id']}".encode()).digest()

    by_code: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        by_code.setdefault(str(note["code"]), []).append(note)
    keep = {id(n) for group in by_code.values() for n in sorted(group, key=rank)[:cap]}
    return [n for n in notes if id(n) in keep]


def build_samples(config: DatasetConfig, *, use_ray: bool = True) -> pa.Table:
    """Every sample of the dataset with its split (Ray Data for the per-note tasks when `use_ray`)."""
    from medsyn.kg import open_kg
    from medsyn.notes import load_notes

    if config.notes is None:
        raise ConfigError("--notes is required (the real training notes)")
    notes = load_notes(config.notes, text_column=config.text_column)
    if notes.num_rows == 0:
        raise DataError(f"notes file {str(config.notes)!r} holds no notes")
    kg = open_kg(config.kg)
    lang = config.language
    codes = sorted({c for c in notes["code"].to_pylist() if kg.has(c)})
    symptoms = {
        c: list(dict.fromkeys(e.name for e in kg.symptoms(c, language=lang, include_descendants=True)))
        for c in codes
    }
    real = notes.to_pylist()
    if config.max_notes_per_code:
        real = _capped(real, config.max_notes_per_code, config.seed)
    rows = [dict(r, source="real") for r in real] + _synthetic_notes(config)
    titles = {c: kg.disease(c).title(lang) or c for c in codes}
    per_note = [t for t in config.tasks if t in NOTE_TASKS]
    samples: list[dict[str, Any]] = []
    if per_note and rows:
        examples: dict[str, list[tuple[str, str]]] = {}
        if "note_from_example" in config.tasks:  # the paper's examples: real notes only
            for r in notes.select(["note_id", "code", "text"]).to_pylist():
                examples.setdefault(str(r["code"]), []).append((str(r["note_id"]), str(r["text"])))
        mapper = NoteSamples(symptoms, titles, config, examples)
        if use_ray:
            import ray

            ds = ray.data.from_items(rows).map_batches(mapper, batch_size=256, batch_format="numpy")
            samples += ds.to_pandas().to_dict("records")  # the pipeline runs once
        else:
            out = mapper({k: [r[k] for r in rows] for k in ("note_id", "code", "text", "source")})
            samples += [dict(zip(out, values, strict=True)) for values in zip(*out.values(), strict=True)]
    symptom_sets = {c: set(s) for c, s in symptoms.items() if s}
    for code in codes:
        title = titles[code]
        drugs = list(dict.fromkeys(d.name for d in kg.drugs(code, include_descendants=True)))
        hops = related_codes(symptom_sets, code, config.max_hops) if "kg_related" in config.tasks else {}
        related = {
            h: [f"{c} {kg.disease(c).title(lang) or ''}".strip() for c in cs[: config.max_related]]
            for h, cs in hops.items()
        }
        for s in code_tasks(code, title, symptoms[code], drugs, related, language=lang, seed=config.seed):
            if s["task"] in config.tasks:
                samples.append(s)
    samples.sort(key=lambda s: (s["task"], s["code"] or "", s["note_id"] or "", s["input"]))
    for s in samples:
        s["split"] = _split(s, config.val_fraction, config.seed)
    return pa.Table.from_pylist(samples, schema=SCHEMA)


SHARD_ROWS = 50_000


def build_dataset(config: DatasetConfig, *, use_ray: bool = True) -> dict[str, Any]:
    """Write `out/train/*.parquet` and `out/val/*.parquet` (a path or URI; on a filesystem atomically)."""
    if config.out is None:
        raise ConfigError("--out is required")
    out = Location.parse(config.out, option="--out").check()
    if out.children() and not config.overwrite:
        raise ConfigError(f"{out} is not empty; pass --overwrite to replace the dataset it holds")
    table = build_samples(config, use_ray=use_ray)
    if table.num_rows == 0:
        raise DataError(
            "the dataset is empty: no note or code produced a sample (check --notes, --kg, --tasks)"
        )

    def write(directory: Path) -> None:  # shards of SHARD_ROWS samples: readers can split the work
        for split in ("train", "val"):
            (directory / split).mkdir(parents=True, exist_ok=True)
            part = table.filter(pa.compute.equal(table["split"], split))
            for i, start in enumerate(range(0, max(part.num_rows, 1), SHARD_ROWS)):
                pq.write_table(part.slice(start, SHARD_ROWS), directory / split / f"part-{i:05d}.parquet")

    if out.is_local:  # a temporary directory renamed at the end
        with atomic_dir(out.local_path) as tmp:
            write(tmp)
    else:  # train/ (what readers look for) is uploaded last
        out.delete()
        with staged_dir(out, last="train/part-00000.parquet") as tmp:
            write(tmp)
    counts: dict[str, dict[str, int]] = {}
    for task, split in zip(table["task"].to_pylist(), table["split"].to_pylist(), strict=True):
        counts.setdefault(task, {"train": 0, "val": 0})[split] += 1
    return {"out": out.uri, "samples": table.num_rows, "by_task": counts}
