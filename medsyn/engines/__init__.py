"""Generation engines behind one interface (`Engine.generate(requests) -> results`).

from medsyn.engines import make_engine, Request, SamplingParams
with make_engine("vllm", "smollm2-135m-instruct") as engine:
    engine.generate([Request("1", prompt="Жалобы на", params=SamplingParams(max_tokens=32))])
"""

from __future__ import annotations

from typing import Any

from medsyn.engines.base import Engine, Request, Result, SamplingParams
from medsyn.errors import ConfigError

ENGINES = ("vllm", "hf", "openai")

__all__ = ["ENGINES", "Engine", "Request", "Result", "SamplingParams", "make_engine"]


def make_engine(name: str, model: str, **kwargs: Any) -> Engine:
    """Build a generation engine: a batch of `Request`s in, one `Generation` per request out.

    Args:
        name: vllm (vLLM, CPU or GPU), hf (transformers) or openai (any OpenAI-compatible endpoint).
        model: a packaged model name (e.g. "smollm2-135m-instruct"), a local model directory, or the
            served model's name (openai).
        **kwargs: engine options, e.g. `adapter=` (hf, vllm), `base_url=` and `api_key_env=` (openai).

    Returns:
        The engine; call `engine.generate(requests)`.

    Raises:
        ConfigError: an unknown engine name or a model that cannot be found.

    Examples:
        >>> from medsyn.engines import Request, SamplingParams, make_engine
        >>> engine = make_engine("hf", "smollm2-135m-instruct")  # doctest: +SKIP
        >>> engine.generate([Request("1", prompt="Жалобы на", params=SamplingParams(0.0, 1.0, 16))])
    """
    if name == "hf":
        from medsyn.engines.hf import HFEngine

        return HFEngine(model, **kwargs)
    if name == "vllm":
        from medsyn.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model, **kwargs)
    if name == "openai":
        from medsyn.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model, **kwargs)
    raise ConfigError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}", option="engine")
