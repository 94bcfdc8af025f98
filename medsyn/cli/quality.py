"""`medsyn quality RUNDIR`: the quality gates of a generated set (medsyn.quality.gates), printed.

medsyn quality runs/notes                                  # the run's own --notes, --kg and language
medsyn quality runs/notes --notes train.jsonl --kg runs/kg --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from medsyn.errors import ConfigError, DataError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quality",
        help="quality gates of a generated run directory (language, repetition, length, symptom recall, "
        "classifier agreement, copying, diversity, realism)",
        description="Judge a generated set against real notes. Defaults come from the run's run.json.",
    )
    p.add_argument("run_dir", help="a generation run directory (run.json + shards/): a path or a URI")
    p.add_argument("--notes", help="real (train) notes to judge against (default: the run's --notes)")
    p.add_argument("--kg", help="KG whose titles join the vocabulary (default: the run's --kg)")
    p.add_argument("--language", help="language of the notes (default: the run's)")
    p.add_argument(
        "--sample", type=int, default=20_000, help="judge a seeded sample of at most this many notes"
    )
    p.add_argument(
        "--test",
        action="append",
        default=[],
        help="a test set (notes file) to check the notes against: how many copy one of its notes "
        "(repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the gates as JSON")
    p.set_defaults(func=cmd_quality)


def print_gates(gates: dict[str, Any], console: Console) -> None:
    from medsyn.quality.gates import gate_lines

    table = Table(title=f"quality gates ({gates['n_text']} notes with text, {gates['failed']} failed)")
    table.add_column("gate", no_wrap=True)
    for column in ("value", "target", ""):
        table.add_column(column)
    for row in gate_lines(gates):
        table.add_row(*row)
    console.print(table)
    length = gates["length"]
    if length.get("real_q1_words") is not None:
        console.print(
            f"length: median {length['median_words']:.0f} words; real notes of these codes "
            f"{length['real_q1_words']:.0f}-{length['real_q3_words']:.0f} (interquartile)"
        )
    realism = gates.get("realism") or {}
    if realism.get("value") is not None:
        console.print(
            f"realism: {realism['generated']} notes against {realism['real']} real notes of their codes; "
            f"words that mark the notes: {', '.join(realism['generated_markers'])}; "
            f"that mark the real ones: {', '.join(realism['real_markers'])}"
        )


def cmd_quality(args: argparse.Namespace) -> int:
    from medsyn.pipeline.kept import run_config
    from medsyn.pipeline.quota import is_quota_run
    from medsyn.pipeline.rundir import RunDir
    from medsyn.quality.gates import reference_for, run_gates

    run = RunDir(args.run_dir, option="RUN_DIR")
    config = run_config(run.out)
    if config is None:
        raise DataError(f"{args.run_dir} is not a generation run directory (no run.json, no quota.json)")
    if args.sample < 1:
        raise ConfigError(f"--sample must be >= 1, got {args.sample}")
    reference = reference_for(
        args.notes or config.get("notes"),
        args.kg or config.get("kg"),
        args.language or config.get("language", "ru"),
        text_column=None if args.notes else config.get("text_column"),
        code_column="code" if args.notes else config.get("code_column", "code"),
    )
    if is_quota_run(run.out):  # a quota run is judged by its kept set, the dataset it delivers
        from medsyn.pipeline.kept import KEPT, NOTES_FILE
        from medsyn.quality.gates import quality_gates

        gates = quality_gates(run.out.join(KEPT, NOTES_FILE).read_parquet(), reference)
    else:
        gates = run_gates(run.out.uri, reference, sample=args.sample)
    if args.test:
        gates["test_overlap"] = test_overlap(run, args.test)
    from medsyn.pipeline.card import CARD_MD, read_card

    card = read_card(run.out)
    if args.json:
        print(json.dumps(gates | ({"card": card} if card else {}), indent=2, ensure_ascii=False))
        return 0
    console = Console()
    print_gates(gates, console)
    for check in gates.get("test_overlap", []):
        console.print(
            f"test overlap: {check['copies']} of {check['notes']} notes copy a note of {check['path']} "
            f"({check['n']} notes; 5-gram containment >= {check['threshold']})"
        )
    if card:
        print_card(card, console, run.out.join(CARD_MD).uri)
    return 0


def test_overlap(run: Any, tests: list[str]) -> list[dict[str, Any]]:
    """Per test file: how many of the run's notes copy one of its notes (the kept set's decontamination)."""
    from medsyn.evaluate.synthetic import read_synthetic
    from medsyn.notes import load_notes
    from medsyn.pipeline.generate import check_test_sets
    from medsyn.pipeline.kept import run_config
    from medsyn.quality.decontamination import copies_of_test_notes
    from medsyn.quality.filters import FilterConfig

    config = run_config(run.out) or {}
    check_test_sets(tests, config.get("notes"))
    texts = [t for t in read_synthetic(run.out.uri, allow_dry_run=True)["text"].to_pylist() if t]
    threshold = FilterConfig().max_test_containment
    checks = []
    for path in tests:
        test = load_notes(path)["text"].to_pylist()
        copies = sum(copies_of_test_notes(texts, test, threshold=threshold))
        checks.append(
            {"path": path, "n": len(test), "notes": len(texts), "copies": copies, "threshold": threshold}
        )
    return checks


def print_card(card: dict[str, Any], console: Console, path: str) -> None:
    """The dataset card in short: how the notes were made, the kept set per code, the licences."""
    how, holds = card["how_made"], card["holds"]
    adapter = how["model"].get("adapter") or {}
    console.print(
        f"[bold]dataset card[/bold] ({path}): {holds['rows']} notes by {how['model']['name']}"
        + (f" + {adapter['name']}" if adapter else "")
        + f" on {how['model']['engine']}, MKG {how['mkg']['name']}, seed {how['seed']}; "
        f"kept {holds['kept'] if holds['kept'] is not None else 'none'}"
    )
    if holds["per_code"]:
        table = Table(title="kept set per code")
        for column in ("code", "attempts", "kept", "pass rate", "removed by"):
            table.add_column(column)
        for code, row in holds["per_code"].items():
            removed = ", ".join(f"{k} {v}" for k, v in row["removed"].items()) or "-"
            table.add_row(code, str(row["attempts"]), str(row["kept"]), f"{row['pass_rate']:.2f}", removed)
        console.print(table)
    checked = card["test_sets_checked"]
    console.print(f"test sets checked: {', '.join(checked) if checked else 'none'}")
    licences = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in card["licences"].items())
    console.print(f"licences: {licences}")
