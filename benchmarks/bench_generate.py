"""Generation through the Ray Data job against the same engine called directly on the same prompts.

    .venv/bin/python benchmarks/bench_generate.py [--engine hf|vllm] [--n 128] [--max-tokens M] [--cores N]

Both run the same model on the same planned prompts, greedy decoding and the same number of cores
for the engine (`--cores`: the threads the engine computes on; the job's `--threads`, the direct
engine's `threads`). The default
leaves one core of the machine to Ray's own processes (raylet, GCS, the driver's Ray Data executor, Ray
Data's helper actors: about 17% of one core, measured), as every real node does; with `--cores` equal to
all the cores, those processes preempt the engine's OpenMP threads and each preemption stalls all of
them, so on a 2-core machine the job then measures the scheduler more than itself. Both include loading
the model; Ray is started before either is timed. The direct baseline is each library's best plain use:
for hf the job's batch size, for vllm one `LLM.chat`/`generate` call over every prompt (vLLM schedules
them itself). Target: >= 0.9.

Printed: end to end (the job's fixed start-up weighs on short runs: Ray Data's first use in a fresh
cluster, an actor importing torch or vLLM and loading the model), and for hf the steady state (the
generate calls alone: the sum of the batch latencies). For vllm, ray.data.llm keeps several batches
in the engine at once, so their latencies overlap and only end to end is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="most new tokens per note (default: 48 for hf, slow on one core; 192, the job's, for vllm)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--cores", type=int, default=None, help="cores for the engine (default: all but one, at least 1)"
    )
    args = parser.parse_args()
    args.max_tokens = args.max_tokens or (48 if args.engine == "hf" else 192)
    cores = args.cores or max(1, (os.cpu_count() or 1) - 1)

    import pyarrow.parquet as pq

    from medsyn.engines import make_engine
    from medsyn.pipeline import stages
    from medsyn.pipeline.generate import GenerateConfig, init_ray, prepare, run_generate

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
        threads=cores,
        out=out / "notes",
    )
    init_ray(None)
    planner = prepare(config)
    batch = stages.plan_and_prompt({"row": np.arange(planner.total)}, planner)
    requests = stages.to_requests(batch, config.sampling(), config.form)

    start = time.perf_counter()
    kwargs = {"batch_size": args.batch_size} if args.engine == "hf" else {}
    engine = make_engine(args.engine, args.model, threads=cores, **kwargs)
    results, direct_batches = [], 0.0
    # vllm: vLLM's own best use, every prompt in one LLM.chat/generate call (the engine schedules the
    # batch itself); hf: batches of --batch-size, as the job's hf stage runs them.
    step = len(requests) if args.engine == "vllm" else args.batch_size
    for i in range(0, len(requests), step):
        batch = engine.generate(requests[i : i + step])
        direct_batches += batch[0].latency_s or 0.0
        results.extend(batch)
    direct = time.perf_counter() - start
    engine.close()
    tokens = sum(r.completion_tokens or 0 for r in results)

    start = time.perf_counter()
    summary = run_generate(config, progress=False)
    job = time.perf_counter() - start
    table = pq.read_table(out / "notes" / "shards", columns=["note_id", "text", "latency_s"])
    job_batches = sum(set(table.column("latency_s").to_pylist()))  # one latency per batch, run in turn
    job_texts = dict(zip(table.column("note_id").to_pylist(), table.column("text").to_pylist(), strict=True))
    same = sum(job_texts.get(r.id) == r.text for r in results)
    shutil.rmtree(out, ignore_errors=True)
    print(
        f"engine {args.engine} on {cores} of {os.cpu_count()} cores, {args.n} notes, "
        f"max {args.max_tokens} tokens, batch {args.batch_size}"
    )
    how = "one call over all prompts" if args.engine == "vllm" else f"batches of {args.batch_size}"
    print(f"engine called directly : {direct:7.1f} s  ({tokens / direct:6.1f} tokens/s; {how})")
    job_tokens = summary["this_run"]["tokens_per_s"]
    print(f"Ray Data job           : {job:7.1f} s  ({job_tokens} tokens/s, {summary['notes']} notes written)")
    print(f"ratio direct / job     : {direct / job:7.2f}   end to end (target: >= 0.9)")
    print(f"same greedy text       : {same} of {len(results)} notes")
    if args.engine == "vllm":
        print("steady state           : n/a for vllm (the job's batches run concurrently in the engine)")
        return
    print(
        f"steady state           : direct {direct_batches:6.1f} s, job {job_batches:6.1f} s in generate calls"
    )
    print(f"ratio direct / job     : {direct_batches / job_batches:7.2f}   steady state")


if __name__ == "__main__":
    main()
