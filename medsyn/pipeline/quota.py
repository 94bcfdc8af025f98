"""Quota runs: N notes per code that pass the filters, generated in rounds.

    medsyn generate --config jobs/configs/rumedtop3_rare_generate.yaml --quota 12 --out runs/rare-quota

Each round is a generation run of its own, OUT/rounds/NNN/ (resumable as any run), with explicit per-code
counts: round 0 asks 1.25x each code's quota; later rounds size each short code's batch from its pass rate
so far. After each round the filters (`medsyn.quality.filters`, as `medsyn evaluate` applies them) run
over every round's notes together. The rounds stop when every code has its quota, or at the budgets:
`--max-attempts-per-code`, `--max-notes` (all rounds together) and `--max-rounds`. OUT/quota.json records
the settings and each round's counts before the round starts, so a killed job resumes the same round and
generates nothing twice; a rerun with other quota settings is refused. The kept set (OUT/kept/) holds each
code's first N kept notes; the summary lists per code the attempts, the kept notes, the pass rate and the
reasons for removal, and names the codes that ran out of budget.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medsyn.errors import ConfigError
from medsyn.pipeline.kept import real_fingerprint, symptom_index, test_fingerprint
from medsyn.storage import Location

QUOTA_FILE = "quota.json"
ROUNDS = "rounds"
FIRST_ROUND_MARGIN = 1.25
SEED_STEP = 7919  # a round's seed: the run's seed + SEED_STEP x round


def is_quota_run(loc: Location) -> bool:
    return loc.join(QUOTA_FILE).is_file()


def round_dirs(loc: Location) -> list[Location]:
    """The rounds' run directories, in order, that have a run.json."""
    state = loc.join(QUOTA_FILE).read_json()
    return [loc.join(ROUNDS, f"{r:03d}") for r in range(len(state["rounds"]))]


def settings_of(config: Any) -> dict[str, Any]:
    return {
        "quota": config.quota,
        "max_attempts_per_code": config.max_attempts_per_code,
        "max_notes": config.max_notes,
        "max_rounds": config.max_rounds,
        "filters": asdict(config.filter),
        "test": list(config.test),
        "seed": config.seed,
    }


def check_quota(config: Any) -> None:
    """Clear errors for quota settings that cannot work."""
    if config.quota is None:
        return
    if config.quota < 1:
        raise ConfigError(f"--quota must be >= 1 kept note per code, got {config.quota}", option="quota")
    if config.max_attempts_per_code is not None and config.max_attempts_per_code < config.quota:
        raise ConfigError(
            f"--max-attempts-per-code {config.max_attempts_per_code} is smaller than --quota {config.quota}: "
            "no code could fill its quota",
            option="max_attempts_per_code",
        )
    if config.max_notes is not None and config.max_notes < config.quota:
        raise ConfigError(
            f"--max-notes {config.max_notes} is smaller than --quota {config.quota}", option="max_notes"
        )
    if config.max_rounds < 1:
        raise ConfigError(f"--max-rounds must be >= 1, got {config.max_rounds}", option="max_rounds")
    if config.allocation == "explicit":
        raise ConfigError("--quota sets the counts itself: drop --allocation explicit", option="allocation")


def targets(config: Any) -> dict[str, int]:
    """Each code's quota: N per code (uniform allocation), or N x codes split by --allocation."""
    from medsyn.pipeline.generate import prepare

    codes = prepare(replace(config, quota=None, n=config.quota)).allocation()
    planner = prepare(replace(config, quota=None, n=config.quota * len(codes)))
    return {code: n for code, n in planner.allocation().items() if n > 0}


def next_counts(
    quota: dict[str, int],
    kept: Counter[str],
    attempts: Counter[str],
    *,
    max_attempts: int,
    budget_left: int | None,
) -> dict[str, int]:
    """The next round's notes per short code: what it lacks over its smoothed pass rate, within budget."""
    counts: dict[str, int] = {}
    for code, q in sorted(quota.items()):
        need = q - kept[code]
        if need <= 0:
            continue
        if attempts[code] == 0:
            ask = math.ceil(q * FIRST_ROUND_MARGIN)
        else:
            rate = (kept[code] + 1) / (attempts[code] + 2)
            ask = math.ceil(need / rate)
        ask = min(ask, max_attempts - attempts[code])
        if budget_left is not None:
            ask = min(ask, budget_left - sum(counts.values()))
        if ask > 0:
            counts[code] = ask
    return counts


def run_quota(config: Any, *, progress: bool = True) -> dict[str, Any]:
    """Generate rounds until every code has `config.quota` kept notes or a budget ends; see the module."""
    from medsyn.evaluate.synthetic import read_synthetic
    from medsyn.notes import load_notes
    from medsyn.pipeline.generate import run_generate
    from medsyn.quality.filters import apply_filters

    check_quota(config)
    start = time.perf_counter()
    out = Location.parse(config.out, option="--out").check()
    state_file = out.join(QUOTA_FILE)
    settings = settings_of(config)
    if config.overwrite and out.exists():
        for child in out.children():
            child.delete()
    if state_file.is_file():
        state = state_file.read_json()
        if state["settings"] != settings:
            changed = sorted(k for k in settings if state["settings"].get(k) != settings[k])
            raise ConfigError(
                f"--out {config.out!r} holds a quota run with other settings ({', '.join(changed)}): use "
                "another --out, or --overwrite to start afresh",
                option="out",
            )
    else:
        if out.exists() and out.children():
            raise ConfigError(
                f"--out {config.out!r} exists and is not a quota run: use another --out", option="out"
            )
        state = {"settings": settings, "config": asdict(config), "rounds": []}
    quota = targets(config)
    max_attempts = config.max_attempts_per_code or 10 * max(quota.values())
    real_texts: list[str] = []
    real_codes: list[str] = []
    if config.notes:
        real = load_notes(config.notes, text_column=config.text_column, code_column=config.code_column)
        real_texts, real_codes = real["text"].to_pylist(), [str(c) for c in real["code"].to_pylist()]
    test_texts: list[str] = []
    for path in config.test:
        test_texts += load_notes(path, text_column=config.text_column, code_column=config.code_column)[
            "text"
        ].to_pylist()

    symptom_codes = (
        symptom_index(config.kg, config.language) if "kg_consistency" in config.filter.filters else None
    )

    def round_config(r: int, counts: dict[str, int]) -> Any:
        return replace(
            config,
            quota=None,
            allocation="explicit",
            counts=",".join(f"{c}={n}" for c, n in counts.items()),
            n=None,
            seed=config.seed + SEED_STEP * r,
            out=out.join(ROUNDS, f"{r:03d}").uri,
            overwrite=False,
            kept=False,
            quality=False,
        )

    result, table = None, None
    while True:
        # Every round in quota.json runs to completion first (a killed job resumes it).
        for r, entry in enumerate(state["rounds"]):
            if not out.join(ROUNDS, f"{r:03d}", "summary.json").is_file():
                run_generate(round_config(r, entry["counts"]), progress=progress)
        if state["rounds"]:
            table = pa.concat_tables(
                [read_synthetic(d.uri, allow_dry_run=True) for d in round_dirs(out)],
                promote_options="permissive",
            )
            result = apply_filters(
                table,
                real_texts,
                config.filter,
                real_codes=real_codes,
                seed=0,
                test_texts=test_texts,
                symptom_codes=symptom_codes,
            )
            kept = Counter(result.kept["code"].to_pylist())
            attempts = Counter(table["code"].to_pylist())
        else:
            kept, attempts = Counter(), Counter()
        done = sum(attempts.values())
        budget_left = None if config.max_notes is None else config.max_notes - done
        counts = next_counts(quota, kept, attempts, max_attempts=max_attempts, budget_left=budget_left)
        if not counts or len(state["rounds"]) >= config.max_rounds:
            break
        state["rounds"].append({"counts": counts, "seed": config.seed + SEED_STEP * len(state["rounds"])})
        state_file.write_json(state)
    assert table is not None and result is not None
    fingerprints = {
        "real": real_fingerprint(real_texts, real_codes),
        "test": test_fingerprint(test_texts),
        "seconds": time.perf_counter() - start,
    }
    return finish_quota(config, out, quota, table, result, len(state["rounds"]), max_attempts, fingerprints)


def finish_quota(
    config: Any,
    out: Location,
    quota: dict[str, int],
    table: pa.Table,
    result: Any,
    rounds: int,
    max_attempts: int,
    run: dict[str, Any],
) -> dict[str, Any]:
    """Keep each code's first N kept notes; write kept/, the card and summary.json (last)."""
    from medsyn.pipeline.card import build_card, write_card
    from medsyn.pipeline.kept import KEPT, MANIFEST, NOTES_FILE, REASONS_FILE, per_code
    from medsyn.pipeline.rundir import RunDir
    from medsyn.quality.gates import quality_gates, reference_for

    reasons = list(result.reasons)
    taken: Counter[str] = Counter()
    codes = table["code"].to_pylist()
    for i, reason in enumerate(reasons):
        if reason is None:
            if taken[codes[i]] >= quota.get(codes[i], 0):
                reasons[i] = "over_quota"
            else:
                taken[codes[i]] += 1
    chosen = pa.array([r is None for r in reasons])
    kept_ids = table.filter(chosen)["note_id"]
    rows = pa.concat_tables([RunDir(d).read() for d in round_dirs(out)], promote_options="permissive")
    kept_rows = rows.filter(pc.is_in(rows["note_id"], value_set=kept_ids))
    table_per_code = per_code(codes, reasons)
    for code, row in table_per_code.items():
        row["quota"] = quota.get(code, 0)
        row["passed"] = row["kept"] + row["removed"].pop("over_quota", 0)
        row["pass_rate"] = round(row["passed"] / row["attempts"], 4)
    short = {
        code: {"kept": taken[code], "quota": q, "attempts": table_per_code.get(code, {}).get("attempts", 0)}
        for code, q in quota.items()
        if taken[code] < q
    }
    kept_dir = out.join(KEPT)
    surplus = reasons.count("over_quota")
    kept_dir.join(NOTES_FILE).write_parquet(kept_rows)
    reasons_table = table.select(["note_id", "code"]).append_column(
        "filter_reason", pa.array(reasons, pa.string())
    )
    kept_dir.join(REASONS_FILE).write_parquet(reasons_table)
    manifest = {
        "notes": kept_rows.num_rows,
        "rows": table.num_rows,
        "quota": quota,
        "filters": asdict(config.filter),
        "filter_seed": 0,
        "real_notes": {"path": str(config.notes) if config.notes else None, "fingerprint": run["real"]},
        "test_sets": [{"path": p} for p in config.test],
        "test_fingerprint": run["test"],
        "funnel": [*result.funnel, {"filter": "over_quota", "enabled": True, "removed": surplus}],
        "per_code": table_per_code,
        "short": short,
        "files": [NOTES_FILE, REASONS_FILE],
    }
    kept_dir.join(MANIFEST).write_json(manifest)
    summary: dict[str, Any] = {
        "out": out.uri,
        "notes": table.num_rows,
        "planned": table.num_rows,
        "missing": 0,
        "duplicates": 0,
        "failed": int(sum(1 for r in result.reasons if r == "failed")),
        "rounds": rounds,
        "kept": {"notes": kept_rows.num_rows, "path": kept_dir.uri},
        "quota": {"per_code": table_per_code, "short": short, "max_attempts_per_code": max_attempts},
        "skipped_codes": {},
        "failures_by_reason": {},
        "this_run": {
            "notes": table.num_rows,
            "seconds": round(run["seconds"], 2),
            "notes_per_s": round(table.num_rows / run["seconds"], 3) if run["seconds"] > 0 else None,
            "tokens_per_s": None,
        },
    }
    if config.quality:
        notes = str(config.notes) if config.notes else None
        reference = reference_for(
            notes, config.kg, config.language, text_column=config.text_column, code_column=config.code_column
        )
        summary["quality"] = quality_gates(kept_rows, reference)
    write_card(RunDir(out), build_card(config, summary, manifest))
    out.join("summary.json").write_json(summary)
    return summary
