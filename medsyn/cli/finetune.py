"""`medsyn finetune-data` (instruction dataset on Ray Data) and `medsyn finetune` (LoRA on Ray Train)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from medsyn.cli.command import add_command
from medsyn.finetune import DatasetConfig, FinetuneConfig, build_dataset, run_finetune


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "finetune-data",
        DatasetConfig,
        cmd_data,
        help="build the instruction dataset from real training notes and the MKG (Ray Data)",
        description="Write OUT/train and OUT/val Parquet samples of the paper's instruction tasks.",
    )
    add_command(
        subparsers,
        "finetune",
        FinetuneConfig,
        cmd_finetune,
        help="LoRA fine-tuning of the generator on Ray Train (resumes from the latest checkpoint)",
        description="Train a LoRA adapter on an instruction dataset; the adapter lands in OUT/adapter and "
        "loads with `medsyn generate --adapter OUT/adapter` (engines hf and vllm).",
    )


def cmd_data(config: DatasetConfig, args: argparse.Namespace) -> int:
    from medsyn.ray_env import init_ray

    init_ray(None)
    summary = build_dataset(config)
    Console(stderr=True).print(
        f"{summary['samples']} samples in {summary['out']}: {json.dumps(summary['by_task'])}"
    )
    return 0


def cmd_finetune(config: FinetuneConfig, args: argparse.Namespace) -> int:
    summary = run_finetune(config)
    console = Console(stderr=True)
    for h in summary["history"]:
        val = "" if h.get("val_loss") is None else f"  val_loss {h['val_loss']:.4f}"
        console.print(f"step {h['step']:6d}  train_loss {h['train_loss']:.4f}{val}")
    state = "done" if summary["complete"] else "stopped early (rerun the same command to resume)"
    console.print(
        f"adapter: {summary['adapter']} (step {summary['step']}/{summary['total_steps']}, {state}; "
        f"resumed from step {summary['resumed_from']}; {summary['seconds']} s)"
    )
    return 0
