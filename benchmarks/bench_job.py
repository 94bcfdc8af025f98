"""300,000 notes through the generation job on a 2-node Ray on this machine, engine dry-run (no model
time: what is measured is the job itself: plan -> prompt -> generate -> score -> write), then the same
run killed at about half and resumed; then a projection of the cluster cost of real generation.

    .venv/bin/python benchmarks/bench_job.py [--n 300000] [--shard-rows 10000] [--out DIR]
        [--gpu-tokens-per-s 10000] [--tokens-per-note T]

Measured: notes/s end to end; peak memory of the driver (this process) at n/10 and at n notes (flat in
the number of notes: the driver keeps no per-note list) and of every Ray worker process, per node; the
number and size of the shards; time to resume after a kill at ~50%, and that the resumed run rewrote no
shard the killed run had finished. Baseline: Ray Data alone doing the same work per row (medsyn's plan,
prompts, dry-run text and scoring in map_batches) and writing Parquet with `write_parquet`, the best plain
use of the same library, in the same run on the same cluster. Target: >= 5,000 notes/s through the job.

Projection: job overhead per note (measured here) plus model time per note from the engine's tokens/s
(`--gpu-tokens-per-s`, per GPU: a stated anchor, as no GPU is measured here) and the mean completion
tokens of a real run (`--tokens-per-note`), for 300,000 notes on 1-16 GPUs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RARE_CODES = (
    "E27,H65,I25,L50,N92,Z00,E74,G50,G96,K52,K64,N34,F41,G35,G37,D23,G30,J02,J41,L71,"
    "J44,G56,J32,N94,J20,K26,L70,E22,M06,M10,M15,N84,N91,E03,I83,J01,I49,L21,M42,E28"
)


class MemorySampler:
    """Peak RSS per Ray worker process and per node (summed), sampled every 0.2 s; nodes are told apart
    by the raylet socket in each worker's command line."""

    def __init__(self) -> None:
        self.peak_process: dict[str, int] = {}
        self.peak_node: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            per_node: dict[str, int] = {}
            for p in psutil.process_iter(["cmdline", "memory_info"]):
                cmd = p.info["cmdline"] or []
                sock = next((a.split("=", 1)[1] for a in cmd if a.startswith("--raylet-name=")), None)
                if sock is None or p.info["memory_info"] is None:
                    continue
                node = Path(sock).name  # raylet, raylet.1, ...
                rss = p.info["memory_info"].rss
                per_node[node] = per_node.get(node, 0) + rss
                self.peak_process[node] = max(self.peak_process.get(node, 0), rss)
            for node, rss in per_node.items():
                self.peak_node[node] = max(self.peak_node.get(node, 0), rss)
            time.sleep(0.2)

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _config(args: argparse.Namespace, out: Path, n: int) -> Any:
    from medsyn.pipeline.generate import GenerateConfig

    return GenerateConfig(
        kg=args.kg,
        notes=args.notes,
        codes=args.codes.split(","),
        n=n,
        allocation="uniform",
        language="ru",
        engine="dry-run",
        batch_size=args.shard_rows,
        shard_rows=args.shard_rows,
        quality=False,
        seed=0,
        out=str(out),
    )


def _run_in_child(args: argparse.Namespace, out: Path, n: int, address: str, q: Any) -> None:
    """A job driver of its own (a process): its peak RSS is the driver's alone."""
    os.environ["RAY_ADDRESS"] = address
    from medsyn.pipeline.generate import run_generate

    start = time.perf_counter()
    summary = run_generate(_config(args, out, n), progress=False)
    q.put(
        {
            "seconds": time.perf_counter() - start,
            "summary": summary,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
    )


def driver_run(args: argparse.Namespace, out: Path, n: int, address: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run_in_child, args=(args, out, n, address, q))
    p.start()
    result = q.get()
    p.join()
    return result  # type: ignore[no-any-return]


def baseline(args: argparse.Namespace, out: Path, n: int) -> float:
    """Ray Data alone doing the same work per row: medsyn's plan + prompts, dry-run text and scoring in
    map_batches, then Ray Data's own `write_parquet`. What the job adds: loading the KG and notes in the
    timed run, the run directory (lease, atomic shards with provenance, summary) and the driver's tally."""
    from functools import partial

    import numpy as np
    import ray

    from medsyn.kg import open_kg
    from medsyn.notes import load_notes
    from medsyn.pipeline import stages
    from medsyn.sampling import build_planner

    cfg = _config(args, out, n)
    planner = build_planner(open_kg(args.kg), load_notes(args.notes), cfg)
    start = time.perf_counter()
    blocks = np.array_split(np.arange(n), max(1, n // args.shard_rows))
    ds = ray.data.from_numpy(blocks).rename_columns({"data": "row"})
    for fn in (
        partial(stages.plan_and_prompt, planner=planner),
        stages.dry_run_generate,
        partial(stages.score, copy_threshold=cfg.copy_threshold),
    ):
        ds = ds.map_batches(fn, batch_size=args.shard_rows, batch_format="pyarrow")
    ds.write_parquet(str(out))
    return time.perf_counter() - start


def resume_after_kill(args: argparse.Namespace, out: Path, address: str) -> dict[str, Any]:
    """Kill the job's driver when about half the shards are written, then resume it."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run_in_child, args=(args, out, args.n, address, q))
    p.start()
    shards = out / "shards"
    total = -(-args.n // args.shard_rows)
    while len(list(shards.glob("part-*.parquet"))) < total // 2:
        time.sleep(0.05)
        if not p.is_alive():
            raise SystemExit("the run ended before it could be killed at ~50%: raise --n")
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    before = {f.name: f.stat().st_mtime_ns for f in shards.glob("part-*.parquet")}
    killed_at = len(before)
    start = time.perf_counter()
    resumed = driver_run(args, out, args.n, address)
    seconds = time.perf_counter() - start
    after = {f.name: f.stat().st_mtime_ns for f in shards.glob("part-*.parquet")}
    rewritten = [name for name, mtime in before.items() if after.get(name) != mtime]
    summary = resumed["summary"]
    done_before = sum(pq_rows(shards / name) for name in before)
    return {
        "shards_at_kill": killed_at,
        "shards_total": len(after),
        "rows_done_at_kill": done_before,
        "resume_seconds": round(seconds, 1),
        "resumed_notes": summary["this_run"]["notes"],
        "finished_shards_rewritten": len(rewritten),
        "final": {k: summary[k] for k in ("notes", "missing", "duplicates", "duplicates_removed")},
    }


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def projection(job_s_per_note: float, tokens_per_note: float, gpu_tokens_per_s: float, n: int) -> list[str]:
    lines = ["| GPUs | model hours | job hours (this machine's rate) | wall hours (overlapped) | GPU hours |",
             "|---:|---:|---:|---:|---:|"]  # fmt: skip
    model_s = n * tokens_per_note / gpu_tokens_per_s
    for gpus in (1, 2, 4, 8, 16):
        wall = max(model_s / gpus, n * job_s_per_note)  # the job's stages run beside the engine
        lines.append(
            f"| {gpus} | {model_s / gpus / 3600:.2f} | {n * job_s_per_note / 3600:.3f} | "
            f"{wall / 3600:.2f} | {wall * gpus / 3600:.2f} |"
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=300_000)
    p.add_argument("--shard-rows", type=int, default=10_000)
    p.add_argument("--kg", default=str(ROOT / "runs" / "kg"))
    p.add_argument("--notes", default=str(ROOT.parent / "shared/data/rumedbench/RuMedTop3/train_v1.jsonl"))
    p.add_argument("--codes", default=RARE_CODES)
    p.add_argument("--out", default=None, help="where the runs go (default: a temporary directory)")
    anchor = "anchor: vLLM output tokens/s per GPU for a 270M model at large batch (assumed)"
    p.add_argument("--gpu-tokens-per-s", type=float, default=10_000.0, help=anchor)
    per_note = "mean completion tokens per note (default: from runs/rumedtop3-rare, else 60)"
    p.add_argument("--tokens-per-note", type=float, default=None, help=per_note)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    base = Path(args.out or tempfile.mkdtemp(prefix="bench-job-"))
    temp_dir = tempfile.mkdtemp(prefix="rbj-", dir="/tmp")
    cluster = Cluster(
        initialize_head=True,
        head_node_args=dict(num_cpus=2, include_dashboard=False, temp_dir=temp_dir),
    )
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    results: dict[str, Any] = {
        "command": "python benchmarks/bench_job.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "n": args.n,
        "shard_rows": args.shard_rows,
        "cores": os.cpu_count(),
    }
    try:
        driver_run(args, base / "warm", 20_000, cluster.address)  # workers started, imports warm
        small = driver_run(args, base / "small", args.n // 10, cluster.address)
        with MemorySampler() as mem:
            full = driver_run(args, base / "full", args.n, cluster.address)
        shards = list((base / "full" / "shards").glob("part-*.parquet"))
        plain = baseline(args, base / "baseline", args.n)
        resume = resume_after_kill(args, base / "killed", cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()
    s = full["summary"]
    assert (s["notes"], s["missing"], s["duplicates"]) == (args.n, 0, 0), s
    rate = args.n / full["seconds"]
    results.update(
        {
            "job_seconds": round(full["seconds"], 1),
            "job_notes_per_s": round(rate),
            "baseline_seconds": round(plain, 1),
            "baseline_notes_per_s": round(args.n / plain),
            "ratio": round(plain / full["seconds"], 2),
            "driver_peak_rss_mb": {
                f"{args.n // 10} notes": round(small["peak_rss"] / 2**20),
                f"{args.n} notes": round(full["peak_rss"] / 2**20),
            },
            "worker_process_peak_rss_mb": {k: round(v / 2**20) for k, v in sorted(mem.peak_process.items())},
            "node_workers_peak_rss_mb": {k: round(v / 2**20) for k, v in sorted(mem.peak_node.items())},
            "shards": len(shards),
            "shard_mb_mean": round(sum(f.stat().st_size for f in shards) / len(shards) / 2**20, 2),
            "resume": resume,
        }
    )
    tokens = args.tokens_per_note
    if tokens is None:
        summary = ROOT / "runs" / "rumedtop3-rare" / "summary.json"
        this = json.loads(summary.read_text())["this_run"] if summary.is_file() else None
        tokens = this["tokens_per_s"] * this["seconds"] / this["notes"] if this and this["notes"] else 60.0
    results["projection"] = {"tokens_per_note": round(tokens, 1), "gpu_tokens_per_s": args.gpu_tokens_per_s}
    print(json.dumps(results, indent=1))
    print(f"\njob {rate:,.0f} notes/s (target >= 5,000), Ray Data alone {args.n / plain:,.0f} notes/s")
    print(
        f"\nProjection for {args.n:,} notes ({tokens:.0f} tokens/note, "
        f"{args.gpu_tokens_per_s:,.0f} tokens/s/GPU):"
    )
    print("\n".join(projection(full["seconds"] / args.n, tokens, args.gpu_tokens_per_s, args.n)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if not args.out:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
