"""One engine interface: a batch of requests in, one result per request out (never fewer).

    engine = make_engine("hf", model="smollm2-135m-instruct")
    results = engine.generate([Request("r1", messages=[{"role": "user", "content": "..."}])])

A request that fails yields a result with `error` set and `text` None; it is never dropped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from medsyn.config import option
from medsyn.errors import ConfigError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = option(0.8, help="sampling temperature (0 = greedy)")
    top_p: float = option(0.95, help="nucleus sampling mass")
    max_tokens: int = option(192, help="most new tokens per note")
    stop: tuple[str, ...] = option((), help="stop strings")
    seed: int | None = option(None, help="sampling seed (per request; the job uses each row's seed)")
    repetition_penalty: float = option(
        1.0, help="divides the logits of tokens already in the prompt or the text (1.0 = off; >1 curbs loops)"
    )
    frequency_penalty: float = option(
        0.0, help="subtracted from a token's logit for each time it is already in the note, not the prompt"
    )
    guidance_scale: float = option(
        1.0,
        help="guided decoding (classifier-free guidance): each token scored u + g * (c - u) on "
        "log-probabilities, c under the prompt, u under the request's negative prompt; 1 = off (engine hf)",
    )

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}", option="temperature")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}", option="top_p")
        if not -2 <= self.frequency_penalty <= 2:
            raise ConfigError(
                f"frequency_penalty must be in [-2, 2] (0 = off), got {self.frequency_penalty}",
                option="frequency_penalty",
            )
        if self.repetition_penalty <= 0:
            raise ConfigError(
                f"repetition_penalty must be > 0 (1.0 = off), got {self.repetition_penalty}",
                option="repetition_penalty",
            )
        if not 1 <= self.guidance_scale <= 10:
            raise ConfigError(
                f"guidance_scale must be in [1, 10] (1 = off), got {self.guidance_scale}",
                option="guidance_scale",
            )
        if self.max_tokens <= 0:
            raise ConfigError(
                f"max_tokens must be a positive integer, got {self.max_tokens}", option="max_tokens"
            )


@dataclass
class Request:
    """One generation: chat `messages` or a plain `prompt` (exactly one of them); `negative`, in the same
    form, is the negative prompt of guided decoding (`params.guidance_scale` > 1)."""

    id: str
    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    negative: str | list[dict[str, str]] | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ConfigError(f"request {self.id!r}: give exactly one of prompt or messages")
        if self.params.guidance_scale != 1.0 and self.negative is None:
            raise ConfigError(
                f"request {self.id!r}: guidance_scale {self.params.guidance_scale} needs a negative prompt",
                option="negative_prompt",
            )
        if self.negative is not None and isinstance(self.negative, str) != (self.prompt is not None):
            raise ConfigError(f"request {self.id!r}: the negative prompt must have the prompt's form")


@dataclass
class Result:
    id: str
    text: str | None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    latency_s: float | None = None


class Engine(ABC):
    """A text generator. Implementations: `hf` (transformers), `vllm`, `openai` (HTTP)."""

    name: str = "engine"
    model: str = ""

    @abstractmethod
    def generate(self, requests: list[Request]) -> list[Result]:
        """One result per request, in order; failures as results with `error`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free what the engine holds (processes, memory)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_results(requests: list[Request], exc: BaseException) -> list[Result]:
    message = f"{type(exc).__name__}: {exc}"
    return [Result(r.id, None, error=message) for r in requests]


def set_torch_threads(threads: int) -> None:
    """Set the threads torch computes on in this process, also after a vLLM engine ran here (vLLM's CPU
    worker replaces `torch.set_num_threads` with a no-op for the whole process; its original stays in
    `torch._C`)."""
    import torch

    torch._C.set_num_threads(threads)
