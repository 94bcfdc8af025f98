"""OpenAI requests -> what the transformers replicas generate: the prompt token ids and the sampling
settings, checked against what the replicas can honour (a bad value is a `BadRequest` naming the
parameter, answered as a 400)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medsyn.models import with_bos
from medsyn.serving.ray_llm import ChatCompletionRequest, CompletionRequest


class BadRequest(Exception):
    """A request the replicas cannot answer; `param` names the request field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    frequency_penalty: float
    min_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    guidance_scale: float = 1.0
    negative: tuple[int, ...] | None = None  # the negative prompt's token ids (guidance_scale != 1)


def check_supported(request: CompletionRequest | ChatCompletionRequest) -> None:
    """BadRequest for a parameter transformers' generate cannot honour here."""
    checks = {
        "echo": bool(getattr(request, "echo", False)),
        "logprobs": bool(request.logprobs),
        "top_logprobs": bool(getattr(request, "top_logprobs", 0)),
        "suffix": getattr(request, "suffix", None) is not None,
        "logit_bias": bool(request.logit_bias),
        "presence_penalty": bool(request.presence_penalty),
        "tools": bool(getattr(request, "tools", None)),
        "stop_token_ids": bool(request.stop_token_ids),
        "response_format": request.response_format is not None
        and getattr(request.response_format, "type", "text") != "text",
    }
    for param, used in checks.items():
        if used:
            raise BadRequest(f"{param} is not supported by the transformers (hf) replicas", param)


def guidance_of(request: CompletionRequest | ChatCompletionRequest) -> tuple[float, Any]:
    """(guidance_scale, negative prompt) of a request: medsyn's extra fields (`extra_body` of the openai
    client), checked; (1.0, None) when absent. The negative prompt has the request's form: a string for
    completions, messages for chat."""
    extra = request.model_extra or {}
    scale = extra.get("guidance_scale")
    if scale is None or scale == 1:
        return 1.0, None
    if not isinstance(scale, int | float) or not 1 <= scale <= 10:
        raise BadRequest(
            f"guidance_scale must be a number in [1, 10] (1 = off), got {scale!r}", "guidance_scale"
        )
    negative = extra.get("negative_prompt")
    chat = isinstance(request, ChatCompletionRequest)
    if chat and not (isinstance(negative, list) and all(isinstance(m, dict) for m in negative) and negative):
        raise BadRequest(
            "guidance_scale > 1 needs negative_prompt: a list of chat messages", "negative_prompt"
        )
    if not chat and not isinstance(negative, str):
        raise BadRequest("guidance_scale > 1 needs negative_prompt: a string", "negative_prompt")
    return float(scale), negative


def sampling_of(
    request: CompletionRequest | ChatCompletionRequest,
    prompt_len: int,
    max_model_len: int,
    tokenizer: Any = None,
) -> Sampling:
    """The request's sampling settings; max_tokens defaults to what the context leaves. `tokenizer`
    tokenizes a guided request's negative prompt."""
    check_supported(request)
    guidance_scale, negative = guidance_of(request)
    negative_ids = None
    if negative is not None:
        if isinstance(negative, str):
            negative_ids = tuple(
                tokenizer(with_bos(tokenizer, negative), add_special_tokens=False)["input_ids"]
            )
        else:
            negative_ids = tuple(_chat_ids(tokenizer, negative, "negative_prompt"))
    # vars(): reading chat's deprecated `max_tokens` attribute would warn on every request
    max_tokens = getattr(request, "max_completion_tokens", None) or vars(request).get("max_tokens")
    room = max_model_len - prompt_len
    if room < 1:
        raise BadRequest(
            f"the prompt has {prompt_len} tokens; this model's context is {max_model_len}",
            "prompt" if isinstance(request, CompletionRequest) else "messages",
        )
    if max_tokens is None:
        max_tokens = room
    if max_tokens < 1 or max_tokens > room:
        raise BadRequest(
            f"max_tokens must be between 1 and {room} (context {max_model_len} - prompt "
            f"{prompt_len} tokens), got {max_tokens}",
            "max_tokens",
        )
    given = request.stop or []
    stop = (given,) if isinstance(given, str) else tuple(x for x in given if x)
    temperature = 1.0 if request.temperature is None else float(request.temperature)
    top_p = 1.0 if request.top_p is None else float(request.top_p)
    if temperature < 0 or not 0 < top_p <= 1:
        raise BadRequest(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
    frequency_penalty = float(request.frequency_penalty or 0.0)
    if not -2 <= frequency_penalty <= 2:
        raise BadRequest(
            f"frequency_penalty must be in [-2, 2], got {frequency_penalty}", "frequency_penalty"
        )
    return Sampling(
        max_tokens=int(max_tokens),
        temperature=temperature,
        top_p=top_p,
        top_k=max(int(request.top_k or 0), 0),
        repetition_penalty=float(request.repetition_penalty or 1.0),
        frequency_penalty=frequency_penalty,
        min_tokens=int(request.min_tokens or 0),
        stop=stop,
        seed=request.seed,
        guidance_scale=guidance_scale,
        negative=negative_ids,
    )


def completion_prompts(tokenizer: Any, request: CompletionRequest) -> list[list[int]]:
    """The token ids of each prompt of a completion request (a string, strings, or token ids)."""
    prompt = request.prompt
    if isinstance(prompt, str):
        prompts: list[Any] = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt:
        prompts = list(prompt)
    else:
        raise BadRequest("prompt must be a string, a list of strings or of token ids", "prompt")
    ids: list[list[int]] = []
    for p in prompts:
        if isinstance(p, str):
            ids.append(tokenizer(with_bos(tokenizer, p), add_special_tokens=False)["input_ids"])
        elif isinstance(p, list) and all(isinstance(t, int) for t in p):
            ids.append(list(p))
        else:
            raise BadRequest("prompt must be a string, a list of strings or of token ids", "prompt")
    return ids


def chat_prompt(tokenizer: Any, request: ChatCompletionRequest) -> list[int]:
    """The token ids of a chat request's messages under the model's chat template (text parts only)."""
    return _chat_ids(tokenizer, request.messages, "messages")


def _chat_ids(tokenizer: Any, given: Any, param: str) -> list[int]:
    if tokenizer.chat_template is None:
        raise BadRequest("this model has no chat template: use /v1/completions", param)
    messages = []
    for m in given:
        message = dict(m)
        content = message.get("content")
        if isinstance(content, list):  # content parts: text only
            texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if len(texts) != len(content):
                raise BadRequest("only text content parts are supported", param)
            message["content"] = "".join(texts)
        messages.append(message)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
