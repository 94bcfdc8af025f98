"""The Serve endpoint against the same engine called in-process: latency p50/p95 and throughput with 1
and 32 concurrent clients, in one run.

    .venv/bin/python benchmarks/bench_serve.py [--n 64] [--max-tokens 32]

Serve: the app of `medsyn serve` (vLLM replica via ray.serve.llm) called over HTTP with the `openai`
client. Direct: vLLM's offline engine in this process (medsyn's `vllm` engine), 1 request at a time,
or 32 at once as one batch. Same model, prompts, greedy decoding and max_tokens. Printed ratios are
Serve / direct (latency: > 1 is overhead; throughput: < 1 is overhead).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.serving.config import ServeConfig

SYMPTOMS = ["cough", "fever", "sore throat", "back pain", "headache", "nausea", "dizziness", "rash"]


def prompts(n: int) -> list[str]:
    return [f"Patient note {i}. The patient complains of {SYMPTOMS[i % 8]} and" for i in range(n)]


def stats(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "req_per_s": len(latencies) / seconds,
    }


def bench_serve(url: str, model: str, texts: list[str], max_tokens: int, clients: int) -> dict[str, float]:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)

    def one(prompt: str) -> float:
        t = time.perf_counter()
        client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0)
        return time.perf_counter() - t

    one(texts[0])  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, texts))
    return stats(latencies, time.perf_counter() - start)


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
    args = parser.parse_args()
    from ray import serve

    from medsyn.cli.serve import start

    texts = prompts(args.n)
    url = start(ServeConfig(model=args.model, port=args.port, api_key_env="MEDSYN_BENCH_NO_KEY"))
    served = {c: bench_serve(url, args.model, texts, args.max_tokens, c) for c in (1, 32)}
    serve.shutdown()
    with make_engine("vllm", args.model) as engine:
        direct = {c: bench_direct(engine, texts, args.max_tokens, c) for c in (1, 32)}
    print(f"{args.n} prompts, max_tokens {args.max_tokens}, greedy, model {args.model}")
    for c in (1, 32):
        s, d = served[c], direct[c]
        print(
            f"clients={c:2d}  serve p50 {s['p50']:.3f}s p95 {s['p95']:.3f}s {s['req_per_s']:.2f} req/s | "
            f"direct p50 {d['p50']:.3f}s p95 {d['p95']:.3f}s {d['req_per_s']:.2f} req/s | "
            f"latency ratio p50 {s['p50'] / d['p50']:.2f} p95 {s['p95'] / d['p95']:.2f}, "
            f"throughput ratio {s['req_per_s'] / d['req_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
