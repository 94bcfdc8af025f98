"""LoRA training throughput through Ray Train (1 and 2 workers) against the same loop without Ray.

    .venv/bin/python benchmarks/bench_finetune.py [--steps 24] [--notes FILE] [--model M]

All three run `medsyn.finetune.train_loop` on the same instruction samples (built from the
first 400 RuMedTop3 training notes), batch 4 per worker, 128 tokens at most. Tokens/s counts the
tokens of the training batches over the time spent in training steps (start-up excluded; printed
apart), over all steps and over the second half alone (steady state, after the run's start-up). Each
Ray Train worker reads the dataset itself (pyarrow); the loop without Ray is given the same samples.
On a 2-core machine two workers share the two cores, so the gain of the second is small.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from medsyn.finetune import (
    FinetuneConfig,
    LocalContext,
    check_inputs,
    loop_config,
    run_finetune,
    train_loop,
)
from medsyn.finetune.dataset import DatasetConfig, build_dataset
from medsyn.paths import default_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--notes", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    source = (
        Path(args.notes) if args.notes else default_data_dir() / "rumedbench" / "RuMedTop3" / "train_v1.jsonl"
    )
    notes = root / "notes.jsonl"
    notes.write_text(
        "".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:400]), encoding="utf-8"
    )
    build_dataset(DatasetConfig(notes=notes, kg="demo", out=root / "sft", val_fraction=0.0), use_ray=False)

    def config(workers: int, name: str) -> FinetuneConfig:
        return FinetuneConfig(
            dataset=root / "sft",
            out=root / name,
            base_model=args.model,
            max_steps=args.steps,
            batch_size=4,
            max_length=128,
            num_workers=workers,
            checkpoint_every=max(1, args.steps // 2),  # a report at half-way: the second half's rate
            learning_rate=1e-4,
        )

    def rates(reports: list[dict[str, float]]) -> tuple[float, float]:
        """Tokens/s over all steps and over the steps after the first report (the second half)."""
        first, last = reports[0], reports[-1]
        steady = (last["tokens"] - first["tokens"]) / max(
            last["train_seconds"] - first["train_seconds"], 1e-9
        )
        return last["tokens"] / last["train_seconds"], steady

    results = {}
    base = config(1, "local")
    model_path, train, val = check_inputs(base)
    # The trainer's own loop settings (the ones run_finetune gives each Ray Train worker), with the
    # samples passed in directly instead of read by the worker.
    cfg = {**loop_config(base, str(model_path)), "train": train, "val": val}
    ctx = LocalContext(root / "local-ckpt")
    start = time.perf_counter()
    train_loop(cfg, ctx)
    results["no Ray"] = (*rates(ctx.reports), time.perf_counter() - start)
    for workers in (1, 2):
        start = time.perf_counter()
        summary = run_finetune(config(workers, f"ray{workers}"))
        meta = json.loads((Path(summary["adapter"]) / "medsyn_adapter.json").read_text())
        results[f"Ray Train, {workers} worker(s)"] = (*rates(meta["history"]), time.perf_counter() - start)
    whole, steady = results["no Ray"][:2]
    print(f"{args.steps} steps x batch 4/worker, model {args.model}")
    for name, (tps, tps_steady, wall) in results.items():
        print(
            f"{name:26s} {tps:8.1f} tokens/s (x{tps / whole:.2f} of no Ray); second half {tps_steady:8.1f} "
            f"tokens/s (x{tps_steady / steady:.2f})   wall {wall:6.1f} s"
        )


if __name__ == "__main__":
    main()
