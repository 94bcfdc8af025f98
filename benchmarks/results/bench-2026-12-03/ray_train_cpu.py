"""Where the CPU goes while a 1-worker Ray Train run trains (bench_finetune's setup: SmolLM2-135M LoRA,
batch 4, 128 tokens, 400 RuMedTop3 notes): every process's CPU time over 30 s of training.

    .venv/bin/python benchmarks/results/bench-2026-12-03/ray_train_cpu.py [STEPS]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from medsyn.finetune import FinetuneConfig, run_finetune
from medsyn.finetune.dataset import DatasetConfig, build_dataset
from medsyn.paths import default_data_dir


def cpu_seconds() -> dict[int, tuple[float, str, int]]:
    """pid -> (CPU seconds so far, command line, threads) of every process."""
    out = {}
    for p in psutil.process_iter(["cmdline"]):
        try:
            times = p.cpu_times()
            out[p.pid] = (times.user + times.system, " ".join(p.info["cmdline"] or [])[:90], p.num_threads())
        except psutil.Error:
            continue  # the process ended (or is not ours to read) while the table was taken
    return out


def main(steps: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="ray-train-cpu-"))
    source = default_data_dir() / "rumedbench" / "RuMedTop3" / "train_v1.jsonl"
    notes = root / "notes.jsonl"
    notes.write_text("".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:400]))
    build_dataset(DatasetConfig(notes=notes, kg="demo", out=root / "sft", val_fraction=0.0), use_ray=False)
    config = FinetuneConfig(
        dataset=root / "sft",
        out=root / "run",
        base_model="smollm2-135m-instruct",
        max_steps=steps,
        batch_size=4,
        max_length=128,
        num_workers=1,
        checkpoint_every=1000,
        learning_rate=1e-4,
    )
    run = threading.Thread(target=run_finetune, args=(config,))
    run.start()
    while not any("RayTrainWorker" in p.name() for p in psutil.process_iter()):
        time.sleep(1)
    time.sleep(40)  # past the worker's start-up: training steps only
    before, started = cpu_seconds(), time.time()
    time.sleep(30)
    after, seconds = cpu_seconds(), time.time() - started
    rows = sorted(
        ((after[pid][0] - before[pid][0]) / seconds, *after[pid][1:]) for pid in after if pid in before
    )
    for cores, command, threads in rows[-12:]:
        print(f"{cores:.3f} cores  {threads:3d} threads  {command}")
    print(f"all processes: {sum(r[0] for r in rows):.3f} cores")
    run.join()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
