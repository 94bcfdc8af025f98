"""Planning and prompt building for 300,000 notes: Ray Data against a plain-Python loop, in one run.

    .venv/bin/python benchmarks/bench_plan.py [--n 300000] [--kg demo|DIR] [--notes FILE]

Both do the same work per note: code by allocation, 2-5 weighted symptoms without replacement,
shuffled, an example note, a template, the rendered prompt. The loop draws the same numbers one row
at a time (pure Python splitmix64); Ray Data runs medsyn's vectorised planner in batches on all cores.
Target: >= 50,000 notes/s through Ray Data on a 2-core machine.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from functools import partial

import numpy as np

from medsyn.kg import open_kg
from medsyn.notes import load_notes
from medsyn.pipeline import stages
from medsyn.prompts import get_template, messages, render
from medsyn.sampling import PlanConfig, build_planner
from medsyn.sampling.plan import S_COUNT, S_EXAMPLE, S_SHUFFLE, S_SYMPTOM, S_TEMPLATE, Planner

M64 = (1 << 64) - 1


def _mix(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _uniform(seed: int, stream: int) -> float:
    return (_mix(seed ^ _mix(stream + 1)) >> 11) / float(1 << 53)


def python_loop(planner: Planner, n: int) -> int:
    """The same plan, one row at a time in plain Python; returns the prompt characters built."""
    cfg = planner.config
    base = _mix(cfg.seed & M64)
    cumulative = planner.cumulative.tolist()
    weights = [[w ** (1.0 / cfg.symptom_temperature) for w in c.weights.tolist()] for c in planner.codes]
    chars = 0
    for row in range(n):
        seed = _mix(base ^ _mix(row))
        ci = next(i for i, c in enumerate(cumulative) if row < c)
        code = planner.codes[ci]
        k = min(
            cfg.min_symptoms
            + math.floor(_uniform(seed, S_COUNT) * (cfg.max_symptoms - cfg.min_symptoms + 1)),
            len(code.symptoms),
        )
        keys = [_uniform(seed, S_SYMPTOM + j) ** (1.0 / w) for j, w in enumerate(weights[ci])]
        chosen = sorted(range(len(keys)), key=lambda j: -keys[j])[:k]
        chosen.sort(key=lambda j: _uniform(seed, S_SHUFFLE + j))
        symptoms = [code.symptoms[j] for j in chosen]
        example = None
        if code.example_texts:
            example = code.example_texts[math.floor(_uniform(seed, S_EXAMPLE) * len(code.example_texts))]
        name = cfg.templates[math.floor(_uniform(seed, S_TEMPLATE) * len(cfg.templates))]
        template = get_template(name, cfg.language, cfg.form)
        if template.requires_example and example is None:
            template = get_template(template.fallback or "baseline_symptoms", cfg.language, cfg.form)
        system, prompt = render(template, symptoms=symptoms, example=example, title=code.title)
        chars += len(messages(system, prompt)[-1]["content"])
    return chars


def ray_data(planner: Planner, n: int, batch_size: int) -> int:
    import ray

    ds = ray.data.range(n).rename_columns({"id": "row"})
    ds = ds.map_batches(
        partial(stages.plan_and_prompt, planner=planner), batch_size=batch_size, batch_format="pyarrow"
    )
    chars = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        chars += sum(len(p) for p in batch["prompt"].to_pylist())
    return chars


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--kg", default="demo")
    parser.add_argument("--notes", default=None)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--baseline-n", type=int, default=30_000, help="rows for the (slow) Python loop")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
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
    planner.plan(np.arange(min(args.n, 50_000)))
    vector_rate = min(args.n, 50_000) / (time.perf_counter() - start)

    start = time.perf_counter()
    ray_data(planner, args.n, args.batch_size)
    ray_rate = args.n / (time.perf_counter() - start)
    print(f"codes {len(planner.codes)}, notes {args.n}, cores {os.cpu_count()}")
    print(f"plain-Python loop           : {loop_rate:10,.0f} notes/s  ({args.baseline_n} rows)")
    print(f"vectorised planner, 1 core  : {vector_rate:10,.0f} notes/s  (plan only, no prompts)")
    print(f"Ray Data plan + prompts     : {ray_rate:10,.0f} notes/s  ({args.n} rows, incl. start-up)")
    print(f"ratio Ray Data / loop       : {ray_rate / loop_rate:10.2f}x   (target: >= 50,000 notes/s)")
    ray.shutdown()


if __name__ == "__main__":
    main()
