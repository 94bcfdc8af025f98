"""`medsyn evaluate`: the upsampling experiment (real vs real + synthetic notes) and its report."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from medsyn.cli.command import add_command
from medsyn.evaluate import EvaluateConfig, run_evaluate


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "evaluate",
        EvaluateConfig,
        cmd_evaluate,
        help="train and test an ICD-10 classifier on real and real + synthetic notes (Ray job)",
        description="Filter the synthetic notes, check them for privacy against the real training notes, "
        "train a classifier per configuration and seed, and write report.json, report.md and plots to --out.",
    )


def cmd_evaluate(config: EvaluateConfig, args: argparse.Namespace) -> int:
    report = run_evaluate(config)
    table = Table(
        title="Hit@k on the test set (mean over seeds; Δ vs real with its 95% paired bootstrap interval)"
    )
    columns = ("configuration", "n_train", "Hit@1", "Hit@3", "Hit@5", "ΔHit@3 vs real", "rare ΔHit@3 vs real",
               "rare ΔHit@3 vs control", "OOT Hit@3")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right", no_wrap=True)

    def delta(d: dict[str, Any] | None) -> str:
        return (
            "" if d is None else f"{100 * d['delta']:+.2f} [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"
        )

    for name, c in report["configs"].items():
        rare = c.get("rare", {})
        oot = c["oot"]["hit@3"]
        table.add_row(
            name,
            str(c["n_train"]),
            *(f"{100 * c[f'hit@{k}']:.2f}" for k in (1, 3, 5)),
            delta(c["delta_vs_real"]["hit@3"]),
            delta(rare.get("delta_vs_real", {}).get("hit@3")),
            delta(rare.get("delta_vs_control", {}).get("hit@3")),
            "" if oot is None else f"{100 * oot:.2f}",
        )
    console = Console(stderr=True)
    console.width = max(console.width, 200)  # never truncate configuration names
    console.print(table)
    console.print(f"report: {config.out}/report.md ({report['seconds']} s)")
    return 0
