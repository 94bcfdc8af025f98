"""Generation through the Ray Data job against the same engine called directly on the same prompts.

    .venv/bin/python benchmarks/bench_generate.py [--engine hf|vllm] [--n 64] [--max-tokens 48]

Both run the same model on the same planned prompts with the same batch size and greedy decoding,
and both include loading the model. Ray is started before either is timed. Target: ratio >= 0.9.
Printed: end to end (the job's fixed start-up, an engine actor importing torch and loading the model,
weighs on short runs), and for hf the steady state (the generate calls alone: sum of batch latencies).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from medsyn.engines import make_engine
from medsyn.pipeline import stages
from medsyn.pipeline.generate import GenerateConfig, init_ray, prepare, run_generate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    config = GenerateConfig(
        codes=["J06", "M54", "I10", "K29"],
        n=args.n,
        language="en",
        engine=args.engine,
        model=args.model,
        temperature=0.0,
        max_tokens=args.max_tokens,
        batch_size=args.batch_size,
        shard_rows=args.batch_size,
        out=out / "notes",
    )
    init_ray(None)
    planner = prepare(config)
    batch = stages.plan_and_prompt({"row": np.arange(planner.total)}, planner)
    requests = stages.to_requests(batch, config.sampling(), config.form)

    import pyarrow.parquet as pq

    start = time.perf_counter()
    engine = make_engine(
        args.engine, args.model, **({"batch_size": args.batch_size} if args.engine == "hf" else {})
    )
    results, direct_batches = [], 0.0
    for i in range(0, len(requests), args.batch_size):
        batch = engine.generate(requests[i : i + args.batch_size])
        direct_batches += batch[0].latency_s or 0.0
        results.extend(batch)
    direct = time.perf_counter() - start
    engine.close()
    tokens = sum(r.completion_tokens or 0 for r in results)

    start = time.perf_counter()
    summary = run_generate(config, progress=False)
    job = time.perf_counter() - start
    rows = pq.read_table(out / "notes" / "shards", columns=["latency_s"]).column("latency_s").to_pylist()
    job_batches = sum(set(rows))  # one latency per batch (a single engine replica runs them in turn)
    shutil.rmtree(out, ignore_errors=True)
    print(f"engine {args.engine}, {args.n} notes, max {args.max_tokens} tokens, batch {args.batch_size}")
    print(f"engine called directly : {direct:7.1f} s  ({tokens / direct:6.1f} tokens/s)")
    job_tokens = summary["this_run"]["tokens_per_s"]
    print(f"Ray Data job           : {job:7.1f} s  ({job_tokens} tokens/s, {summary['notes']} notes written)")
    print(f"ratio direct / job     : {direct / job:7.2f}   end to end (target: >= 0.9)")
    if args.engine == "vllm":
        # ray.data.llm keeps several batches in the engine at once: their latencies overlap, and adding
        # them up measures nothing.
        print("steady state           : n/a for vllm (the job's batches run concurrently in the engine)")
        return
    print(
        f"steady state           : direct {direct_batches:6.1f} s, job {job_batches:6.1f} s in generate calls"
    )
    print(f"ratio direct / job     : {direct_batches / job_batches:7.2f}   steady state")


if __name__ == "__main__":
    main()
