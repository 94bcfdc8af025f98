"""The Serve endpoint against the same engine called in-process: latency p50/p95 and throughput with 1,
8 and 32 concurrent clients, streaming and not, in one run.

    .venv/bin/python benchmarks/bench_serve.py [--n 64] [--max-tokens 32] [--cores N]

Serve: the app of `medsyn serve` (vLLM replica via ray.serve.llm) called over HTTP with the `openai`
client, each client one request at a time; streamed requests also report the time to the first token.
Direct: vLLM's offline engine in this process (medsyn's `vllm` engine), the prompts in batches of the
client count. Same model, prompts, greedy decoding and max_tokens, and the same cores for the engine on
both sides (`--cores`, default all but one: the other is left to the HTTP proxy, the router and the
clients, as `bench_generate` leaves one to Ray's processes). Printed ratios are Serve / direct
(latency: > 1 is overhead; throughput: < 1 is overhead).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.serving.config import ServeConfig

CLIENTS = (1, 8, 32)
SYMPTOMS = ["cough", "fever", "sore throat", "back pain", "headache", "nausea", "dizziness", "rash"]


def prompts(n: int) -> list[str]:
    return [f"Patient note {i}. The patient complains of {SYMPTOMS[i % 8]} and" for i in range(n)]


def stats(latencies: list[float], seconds: float, first: list[float] | None = None) -> dict[str, float]:
    out = {
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "req_per_s": len(latencies) / seconds,
    }
    if first:
        out["ttft_p50"] = float(np.percentile(first, 50))
    return out


def bench_serve(
    url: str, model: str, texts: list[str], max_tokens: int, clients: int, stream: bool
) -> dict[str, float]:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)

    def one(prompt: str) -> tuple[float, float]:
        t = time.perf_counter()
        kwargs = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
        if not stream:
            client.completions.create(**kwargs)
            return time.perf_counter() - t, 0.0
        first = 0.0
        for chunk in client.completions.create(**kwargs, stream=True):
            if not first and chunk.choices and chunk.choices[0].text:
                first = time.perf_counter() - t
        return time.perf_counter() - t, first

    one(texts[0])  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, texts))
    seconds = time.perf_counter() - start
    return stats([r[0] for r in results], seconds, [r[1] for r in results] if stream else None)


def bench_direct(engine, texts: list[str], max_tokens: int, clients: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    params = SamplingParams(temperature=0, max_tokens=max_tokens)
    engine.generate([Request("warm", prompt=texts[0], params=params)])
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(0, len(texts), clients):
        t = time.perf_counter()
        engine.generate(
            [Request(str(j), prompt=p, params=params) for j, p in enumerate(texts[i : i + clients])]
        )
        latencies += [time.perf_counter() - t] * len(texts[i : i + clients])
    return stats(latencies, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument(
        "--cores", type=int, default=0, help="cores for the engine on both sides (default: all but one)"
    )
    args = parser.parse_args()
    from ray import serve

    from medsyn.cli.serve import start

    cores = args.cores or max(1, (os.cpu_count() or 1) - 1)
    # The replica's engine process: vLLM's core binding. The direct engine runs in this process, where
    # vLLM ignores the binding (it would compute on every core): it gets the same thread count.
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{cores - 1}"
    texts = prompts(args.n)
    url = start(ServeConfig(model=args.model, port=args.port, api_key_env="MEDSYN_BENCH_NO_KEY"))
    served = {
        (c, stream): bench_serve(url, args.model, texts, args.max_tokens, c, stream)
        for c in CLIENTS
        for stream in (False, True)
    }
    serve.shutdown()
    with make_engine("vllm", args.model, threads=cores) as engine:
        direct = {c: bench_direct(engine, texts, args.max_tokens, c) for c in CLIENTS}
    print(
        f"{args.n} prompts, max_tokens {args.max_tokens}, greedy, model {args.model}, "
        f"engine on {cores} of {os.cpu_count()} cores both sides"
    )
    for (c, stream), s in served.items():
        d = direct[c]
        ttft = f" ttft p50 {s['ttft_p50']:.3f}s" if stream else ""
        print(
            f"clients={c:2d} {'stream' if stream else 'plain '}  serve p50 {s['p50']:.3f}s "
            f"p95 {s['p95']:.3f}s{ttft} {s['req_per_s']:.2f} req/s | direct p50 {d['p50']:.3f}s "
            f"p95 {d['p95']:.3f}s {d['req_per_s']:.2f} req/s | latency ratio p50 {s['p50'] / d['p50']:.2f} "
            f"p95 {s['p95'] / d['p95']:.2f}, throughput ratio {s['req_per_s'] / d['req_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
