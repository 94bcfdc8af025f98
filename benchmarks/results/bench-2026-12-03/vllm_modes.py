"""Where does vLLM lose time in Ray actors? One 32-token greedy request at a time, 8 times:
offline LLM in this process, AsyncLLM in this process, AsyncLLM in a Ray actor; engine bound to core 0.

The binding holds only for vLLM's worker processes (VLLM_ENABLE_V1_MULTIPROCESSING=1); a model run in one
process computes on torch's threads: run every variant with OMP_NUM_THREADS=1 to compare like with like."""

import asyncio
import os
import statistics
import sys
import time

from medsyn.engines.vllm_engine import cpu_env, engine_kwargs
from medsyn.models import resolve_model

os.environ.update(cpu_env("0-0"))
MODEL = resolve_model("smollm2-135m-instruct")
KW = engine_kwargs(MODEL, adapter=False, gpu=False)
PROMPTS = [f"Patient {i} complains of cough and fever. Complaints:" for i in range(8)]


def offline():
    from vllm import LLM, SamplingParams

    llm = LLM(**KW)
    sp = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True)
    llm.generate(PROMPTS[:1], sp)
    t = []
    for p in PROMPTS:
        s = time.perf_counter()
        llm.generate([p], sp, use_tqdm=False)
        t.append(time.perf_counter() - s)
    return statistics.median(t)


async def _async():
    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    eng = AsyncLLM.from_engine_args(AsyncEngineArgs(**KW))
    sp = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True)

    async def one(i, p):
        async for out in eng.generate(p, sp, request_id=str(i)):
            last = out
        return last

    await one("w", PROMPTS[0])
    t = []
    for i, p in enumerate(PROMPTS):
        s = time.perf_counter()
        await one(i, p)
        t.append(time.perf_counter() - s)
    eng.shutdown()
    return statistics.median(t)


def async_here():
    return asyncio.run(_async())


if __name__ == "__main__":
    which = sys.argv[1]
    if which == "offline":
        print("offline LLM, this process:", round(offline(), 3))
    elif which == "async":
        print("AsyncLLM, this process:", round(async_here(), 3))
    else:
        import ray

        ray.init(address="local", include_dashboard=False, num_cpus=2)

        @ray.remote(num_cpus=0)
        class A:
            def run(self):
                os.environ.update(cpu_env("0-0"))
                return async_here()

        print("AsyncLLM, Ray actor:", round(ray.get(A.remote().run.remote()), 3))
