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
    """Build an engine by name: vllm, hf or openai."""
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
