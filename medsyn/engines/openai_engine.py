"""Any OpenAI-compatible endpoint (OpenAI, a vLLM server, medsyn's own Serve app).

Bounded concurrency (a thread pool), a timeout per request, and retries with exponential backoff on
connection errors, 408, 409, 429 and 5xx (the `openai` client's own retry policy, `max_retries`).
The API key comes from the environment variable `api_key_env` (default OPENAI_API_KEY).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from medsyn.engines.base import Engine, Request, Result
from medsyn.errors import ConfigError, ServiceError


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        check: bool = True,
    ) -> None:
        import openai

        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if "api.openai.com" in self.base_url:
                raise ConfigError(f"no API key: set the environment variable {api_key_env}")
            api_key = "EMPTY"  # local servers usually accept any key
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self.concurrency = concurrency
        if check:
            self._check()

    def _check(self) -> None:
        """Fail fast, naming the URL, when the endpoint cannot be reached or lacks the model."""
        import openai

        try:
            models = [m.id for m in self.client.with_options(max_retries=0, timeout=10).models.list()]
        except openai.APIConnectionError as exc:
            raise ServiceError(f"cannot reach the OpenAI-compatible endpoint {self.base_url}: {exc}") from exc
        except openai.AuthenticationError as exc:
            raise ServiceError(f"endpoint {self.base_url} refused the API key: {exc}") from exc
        except openai.APIStatusError as exc:
            raise ServiceError(
                f"endpoint {self.base_url} answered {exc.status_code} to /models: {exc}"
            ) from exc
        if models and self.model not in models:
            raise ServiceError(
                f"endpoint {self.base_url} has no model {self.model!r}; it serves: {', '.join(models)}"
            )

    def _one(self, request: Request) -> Result:
        import openai

        p = request.params
        common: dict[str, Any] = {
            "model": self.model,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "stop": list(p.stop) or None,
            "seed": p.seed,
            "frequency_penalty": p.frequency_penalty,
        }
        extra: dict[str, Any] = {}
        if p.repetition_penalty != 1.0:  # not in OpenAI's API; vLLM's and medsyn's servers take it
            extra["repetition_penalty"] = p.repetition_penalty
        if p.guidance_scale != 1.0:  # medsyn's transformers Serve replicas take it; its vLLM ones refuse it
            extra.update(guidance_scale=p.guidance_scale, negative_prompt=request.negative)
        if extra:
            common["extra_body"] = extra
        start = time.perf_counter()
        try:
            if request.messages is not None:
                chat = self.client.chat.completions.create(messages=request.messages, **common)  # type: ignore[arg-type]
                text, finish = chat.choices[0].message.content, chat.choices[0].finish_reason
                usage = chat.usage
            else:
                comp = self.client.completions.create(prompt=request.prompt or "", **common)
                text, finish = comp.choices[0].text, comp.choices[0].finish_reason
                usage = comp.usage
        except openai.APIError as exc:
            status = getattr(exc, "status_code", None)
            return Result(request.id, None, error=f"{type(exc).__name__}({status}): {exc}")
        return Result(
            request.id,
            (text or "").strip(),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            finish_reason=finish,
            latency_s=time.perf_counter() - start,
        )

    def generate(self, requests: list[Request]) -> list[Result]:
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(requests)))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self.client.close()
