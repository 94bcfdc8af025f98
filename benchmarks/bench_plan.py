"""Planning and prompt building for 300,000 notes: the job's Ray Data stage against the same production
code called in one process without Ray, in one run.

    .venv/bin/python benchmarks/bench_plan.py [--n 300000] [--kg demo|DIR] [--notes FILE]

Both sides run `medsyn.pipeline.stages.plan_and_prompt` (the vectorised planner, then the rendered
prompts) over the same rows in batches of the same size: per note a code by allocation, 2-5 weighted
symptoms without replacement, shuffled, an example note, a template and the prompt. The baseline calls it
in a loop in this process; Ray Data maps it over blocks on all cores, so the ratio is what Ray adds or
costs (its overhead against its parallelism). The one-row reference planner (a test oracle) is timed
too, for scale. Target: >= 50,000 notes/s through Ray Data on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

from medsyn.kg import open_kg
from medsyn.notes import load_notes
from medsyn.pipeline import stages
from medsyn.prompts import messages, render, template_by_id
from medsyn.sampling import PlanConfig, build_planner
from medsyn.sampling.plan import Planner
from medsyn.sampling.reference import plan_row


def python_loop(planner: Planner, n: int) -> int:
    """The same plan and prompts, one row at a time in plain Python; returns the prompt characters built."""
    chars = 0
    for row in range(n):
        p = plan_row(planner, row)
        system, prompt = render(
            template_by_id(p["template_id"]),
            symptoms=p["symptoms"],
            example=p["example_text"],
            title=p["title"],
        )
        chars += len(messages(system, prompt)[-1]["content"])
    return chars


def in_process(planner: Planner, n: int, batch_size: int) -> int:
    """The production stage over rows [0, n) in this process, batch by batch, without Ray; each batch's
    output becomes an Arrow table, as Ray Data makes a block of it."""
    import pyarrow as pa

    done = 0
    for lo in range(0, n, batch_size):
        rows = pa.table({"row": np.arange(lo, min(n, lo + batch_size), dtype=np.int64)})
        done += pa.table(stages.plan_and_prompt(rows, planner)).num_rows
    return done


def ray_data(planner: Planner, n: int, batch_size: int) -> int:
    """Plan and build prompts for rows [0, n) on Ray Data; the rows stay in the object store."""
    import ray

    ds = ray.data.range(n, override_num_blocks=max(1, n // batch_size)).rename_columns({"id": "row"})
    plan = partial(stages.plan_and_prompt, planner=planner)
    ds = ds.map_batches(plan, batch_size=batch_size, batch_format="pyarrow")
    return ds.materialize().count()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--kg", default="demo")
    parser.add_argument("--notes", default=None)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--baseline-n", type=int, default=30_000, help="rows for the (slow) Python loop")
    args = parser.parse_args()
    import ray

    # A Ray of its own, never a running one (nor a stale /tmp/ray/ray_current_cluster).
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    kg = open_kg(args.kg)
    notes = load_notes(args.notes) if args.notes else None
    codes = [] if notes is not None else kg.codes("category")
    planner = build_planner(kg, notes, PlanConfig(codes=codes, n=args.n, allocation="uniform", language="ru"))

    start = time.perf_counter()
    python_loop(planner, args.baseline_n)
    loop_rate = args.baseline_n / (time.perf_counter() - start)

    start = time.perf_counter()
    assert in_process(planner, args.n, args.batch_size) == args.n
    process_rate = args.n / (time.perf_counter() - start)

    start = time.perf_counter()
    warm = min(args.n, args.batch_size * 2 * (os.cpu_count() or 1))
    ray_data(planner, warm, args.batch_size)  # warm-up: starts a worker process on every core
    cold = time.perf_counter() - start
    start = time.perf_counter()
    done = ray_data(planner, args.n, args.batch_size)
    assert done == args.n, done
    ray_rate = args.n / (time.perf_counter() - start)
    print(f"codes {len(planner.codes)}, notes {args.n}, cores {os.cpu_count()}")
    print(
        f"reference one-row planner   : {loop_rate:10,.0f} notes/s  ({args.baseline_n} rows; a test oracle)"
    )
    print(f"baseline: the stage, no Ray : {process_rate:10,.0f} notes/s  ({args.n} rows, one process)")
    print(f"Ray Data plan + prompts     : {ray_rate:10,.0f} notes/s  ({args.n} rows, warm workers)")
    print(f"worker start-up (untimed)   : {cold:10.1f} s")
    print(
        f"ratio Ray Data / baseline   : {ray_rate / process_rate:10.2f}   "
        "(target: >= 50,000 notes/s through Ray Data)"
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
