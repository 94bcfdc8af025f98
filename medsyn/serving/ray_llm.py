"""Every name medsyn takes from `ray.llm._internal` (Ray 2.60), in one place: when Ray moves them, this
module is the one to change. The public `ray.serve.llm` / `ray.data.llm` APIs are imported directly."""

from __future__ import annotations

from ray.llm._internal.common.callbacks.base import CallbackBase
from ray.llm._internal.common.models import global_id_manager
from ray.llm._internal.serve.core.configs.llm_config import DiskMultiplexConfig, LLMConfig
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    CompletionRequest,
    CompletionResponse,
    CompletionStreamResponse,
    ErrorInfo,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from ray.llm._internal.serve.core.engine.protocol import LLMEngine
from ray.llm._internal.serve.core.ingress.ingress import init as init_fastapi
from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine
from ray.llm._internal.serve.utils.lora_serve_utils import LoraModelLoader

__all__ = [
    "CallbackBase",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatCompletionStreamResponse",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionStreamResponse",
    "DiskMultiplexConfig",
    "ErrorInfo",
    "ErrorResponse",
    "LLMConfig",
    "LLMEngine",
    "LoraModelLoader",
    "ModelCard",
    "ModelList",
    "VLLMEngine",
    "global_id_manager",
    "init_fastapi",
]
