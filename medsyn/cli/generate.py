"""`medsyn generate`: plan, generate, score and write synthetic notes (the Ray Data job)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from medsyn.cli.command import add_command
from medsyn.pipeline.generate import GenerateConfig, run_generate


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "generate",
        GenerateConfig,
        cmd_generate,
        help="generate synthetic notes for ICD-10 codes (Ray Data job)",
        description="Plan notes over codes, generate them with an engine, score them and write Parquet "
        "shards to --out. Rerun with the same --out to resume.",
    )


def cmd_generate(config: GenerateConfig, args: argparse.Namespace) -> int:
    summary = run_generate(config)
    console = Console(stderr=True)
    run = summary["this_run"]
    console.print(
        f"[bold]{summary['notes']}[/bold] of {summary['planned']} notes in {summary['out']}/shards "
        f"({summary['failed']} failed; this run: {run['notes']} notes in {run['seconds']}s, "
        f"{run['notes_per_s']} notes/s, {run['tokens_per_s']} tokens/s)"
    )
    if summary["failures_by_reason"]:
        console.print(f"failures by reason: {json.dumps(summary['failures_by_reason'])}")
    if summary["skipped_codes"]:
        console.print(f"skipped codes: {json.dumps(summary['skipped_codes'], ensure_ascii=False)}")
    if "quota" in summary:
        print_quota(summary, console)
    if summary.get("quality"):
        from medsyn.cli.quality import print_gates

        print_gates(summary["quality"], console)
    if not (summary["missing"] or summary["duplicates"]):
        console.print(
            f"next: [bold]medsyn quality {summary['out']}[/bold] (the gates again, any time) · [bold]medsyn "
            f"evaluate --train TRAIN --test TEST --synthetic {summary['out']} --out RUNDIR[/bold] (does it "
            "help a classifier?)"
        )
    if summary["missing"] or summary["duplicates"]:
        console.print(
            f"[red]incomplete: {summary['missing']} missing, {summary['duplicates']} duplicated rows[/red]"
        )
        return 1
    return 0


def print_quota(summary: dict[str, Any], console: Console) -> None:
    """A quota run: the kept set per code, and the codes that ran out of budget, by name."""
    from rich.table import Table

    quota = summary["quota"]
    console.print(
        f"[bold]{summary['kept']['notes']}[/bold] kept notes in {summary['kept']['path']} from "
        f"{summary['notes']} generated in {summary['rounds']} rounds"
    )
    table = Table(title="quota per code")
    for column in ("code", "quota", "attempts", "kept", "pass rate", "removed by"):
        table.add_column(column)
    for code, row in quota["per_code"].items():
        removed = ", ".join(f"{k} {v}" for k, v in row["removed"].items()) or "-"
        table.add_row(
            code,
            str(row["quota"]),
            str(row["attempts"]),
            str(row["kept"]),
            f"{row['pass_rate']:.2f}",
            removed,
        )
    console.print(table)
    for code, row in quota["short"].items():
        console.print(
            f"[yellow]short of quota: {code} kept {row['kept']} of {row['quota']} after {row['attempts']} "
            f"attempts (budgets: --max-attempts-per-code {quota['max_attempts_per_code']}, --max-notes, "
            "--max-rounds)[/yellow]"
        )
