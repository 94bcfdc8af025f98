"""transformers generator replicas for ray.serve.llm: the fallback where vLLM cannot serve a model.

    medsyn serve --engine hf --model DIR            # or `engine: hf` in serve/config.yaml

`TransformersEngine` is an `LLMEngine` for ray.serve.llm's `LLMServer(engine_cls=...)`, so the ingress,
limits, auth, autoscaling and per-request LoRA adapters are the same as with vLLM replicas. It answers
completions and chat, streaming or not, with n, stop, seed, temperature, top_p, top_k, max_tokens and
usage, by transformers' `generate`: one request at a time per replica (add replicas for throughput).
What it cannot honour (logprobs, echo, logit_bias, tools, ...) is a 400 that names the parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

from medsyn.models import with_bos
from medsyn.serving.ray_llm import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    CompletionRequest,
    CompletionResponse,
    CompletionStreamResponse,
    DiskMultiplexConfig,
    ErrorInfo,
    ErrorResponse,
    LLMConfig,
    LLMEngine,
)


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error(message: str, param: str | None = None, code: int = 400) -> ErrorResponse:
    kind = "BadRequestError" if code < 500 else "InternalServerError"
    return ErrorResponse(error=ErrorInfo(message=message, type=kind, param=param, code=code))


@dataclass(frozen=True)
class _Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    min_tokens: int
    stop: tuple[str, ...]
    seed: int | None


@dataclass
class _Finish:
    finish_reason: str
    stop_reason: str | None
    completion_tokens: int


class _QueueStreamer:
    """transformers streamer that hands each new token id to an asyncio queue (the prompt is skipped);
    `cancelled` set stops the generation at its next token (the request was dropped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        self.loop, self.queue, self.prompt_seen = loop, queue, False
        self.cancelled = threading.Event()
        self.stopped_early = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """A stopping criterion (transformers calls it after every token)."""
        import torch

        if self.cancelled.is_set():
            self.stopped_early = True
        return torch.full(
            (input_ids.shape[0],), self.stopped_early, dtype=torch.bool, device=input_ids.device
        )

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, token)

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


def _unsupported(request: CompletionRequest | ChatCompletionRequest) -> None:
    checks = {
        "echo": bool(getattr(request, "echo", False)),
        "logprobs": bool(request.logprobs),
        "top_logprobs": bool(getattr(request, "top_logprobs", 0)),
        "suffix": getattr(request, "suffix", None) is not None,
        "logit_bias": bool(request.logit_bias),
        "presence_penalty": bool(request.presence_penalty),
        "frequency_penalty": bool(request.frequency_penalty),
        "tools": bool(getattr(request, "tools", None)),
        "stop_token_ids": bool(request.stop_token_ids),
        "response_format": request.response_format is not None
        and getattr(request.response_format, "type", "text") != "text",
    }
    for param, used in checks.items():
        if used:
            raise _BadRequest(f"{param} is not supported by the transformers (hf) replicas", param)


class TransformersEngine(LLMEngine):
    """ray.serve.llm engine on transformers `generate` (see the module docstring)."""

    def __init__(self, llm_config: LLMConfig) -> None:
        self.llm_config = llm_config
        self.kwargs = dict(llm_config.engine_kwargs or {})
        self.lock = asyncio.Lock()  # one generation at a time: torch's RNG and the adapter are global
        self.adapters: dict[str, str] = {}  # served model id -> adapter dir
        self.lm: Any = None
        self.tokenizer: Any = None
        self.dropped = 0  # generations stopped early because their request went away

    # -- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        from medsyn.engines.hf import HFEngine

        # Ray starts workers with OMP_NUM_THREADS=1; generate on the threads the replica may use.
        threads = int(self.kwargs.get("threads") or os.cpu_count() or 1)
        loading: Any = self.llm_config.model_loading_config
        engine = HFEngine(
            str(loading.model_source),
            dtype=str(self.kwargs.get("dtype", "auto")),
            threads=threads,
        )
        self.lm, self.tokenizer, self.device = engine.lm, engine.tokenizer, engine.device
        context: Any = self.kwargs.get("max_model_len") or getattr(
            self.lm.config, "max_position_embeddings", 2048
        )
        self.max_model_len = int(context)
        eos = self.lm.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    def routing_stats(self) -> dict:
        return {}

    async def check_health(self) -> None:
        if self.lm is None:
            raise RuntimeError("the transformers model is not loaded")

    async def reset_prefix_cache(self) -> None:
        return None

    async def resolve_lora(self, lora_model: DiskMultiplexConfig) -> None:
        """Load a LoRA adapter (PEFT) under its served model id; requests for that id use it."""
        async with self.lock:  # also keeps two first requests for one adapter from loading it twice
            if lora_model.model_id not in self.adapters:
                await asyncio.to_thread(self._load_adapter, lora_model.model_id, lora_model.local_path)
                self.adapters[lora_model.model_id] = lora_model.local_path

    def _load_adapter(self, name: str, path: str) -> None:
        from peft import PeftModel

        if isinstance(self.lm, PeftModel):
            self.lm.load_adapter(path, adapter_name=name)
        else:
            self.lm = PeftModel.from_pretrained(self.lm, path, adapter_name=name).eval()

    @contextlib.contextmanager
    def _adapter(self, model: str) -> Iterator[None]:
        from peft import PeftModel

        if not isinstance(self.lm, PeftModel):
            yield
        elif model in self.adapters:
            self.lm.set_adapter(model)
            yield
        else:
            with self.lm.disable_adapter():
                yield

    # -- requests -----------------------------------------------------------------------------------
    def _sampling(self, request: CompletionRequest | ChatCompletionRequest, prompt_len: int) -> _Sampling:
        _unsupported(request)
        # vars(): reading chat's deprecated `max_tokens` attribute would warn on every request
        max_tokens = getattr(request, "max_completion_tokens", None) or vars(request).get("max_tokens")
        room = self.max_model_len - prompt_len
        if room < 1:
            raise _BadRequest(
                f"the prompt has {prompt_len} tokens; this model's context is {self.max_model_len}",
                "prompt" if isinstance(request, CompletionRequest) else "messages",
            )
        if max_tokens is None:
            max_tokens = room
        if max_tokens < 1 or max_tokens > room:
            raise _BadRequest(
                f"max_tokens must be between 1 and {room} (context {self.max_model_len} - prompt "
                f"{prompt_len} tokens), got {max_tokens}",
                "max_tokens",
            )
        given = request.stop or []
        stop = (given,) if isinstance(given, str) else tuple(x for x in given if x)
        temperature = 1.0 if request.temperature is None else float(request.temperature)
        top_p = 1.0 if request.top_p is None else float(request.top_p)
        if temperature < 0 or not 0 < top_p <= 1:
            raise _BadRequest(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
        return _Sampling(
            max_tokens=int(max_tokens),
            temperature=temperature,
            top_p=top_p,
            top_k=max(int(request.top_k or 0), 0),
            repetition_penalty=float(request.repetition_penalty or 1.0),
            min_tokens=int(request.min_tokens or 0),
            stop=stop,
            seed=request.seed,
        )

    def _prompts(self, request: CompletionRequest) -> list[list[int]]:
        prompt = request.prompt
        if isinstance(prompt, str):
            prompts: list[Any] = [prompt]
        elif isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            prompts = [prompt]
        elif isinstance(prompt, list) and prompt:
            prompts = list(prompt)
        else:
            raise _BadRequest("prompt must be a string, a list of strings or of token ids", "prompt")
        ids: list[list[int]] = []
        for p in prompts:
            if isinstance(p, str):
                ids.append(self.tokenizer(with_bos(self.tokenizer, p), add_special_tokens=False)["input_ids"])
            elif isinstance(p, list) and all(isinstance(t, int) for t in p):
                ids.append(list(p))
            else:
                raise _BadRequest("prompt must be a string, a list of strings or of token ids", "prompt")
        return ids

    def _chat_prompt(self, request: ChatCompletionRequest) -> list[int]:
        if self.tokenizer.chat_template is None:
            raise _BadRequest("this model has no chat template: use /v1/completions", "messages")
        messages = []
        for m in request.messages:
            message = dict(m)
            content = message.get("content")
            if isinstance(content, list):  # content parts: text only
                texts = [
                    p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
                ]
                if len(texts) != len(content):
                    raise _BadRequest("only text content parts are supported", "messages")
                message["content"] = "".join(texts)
            messages.append(message)
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generation ---------------------------------------------------------------------------------
    def _generate_sync(self, ids: list[int], s: _Sampling, seed: int, model: str, streamer: Any) -> None:
        import torch

        try:
            torch.manual_seed(seed)
            kwargs: dict[str, Any] = {
                "max_new_tokens": s.max_tokens,
                "min_new_tokens": s.min_tokens or None,
                "do_sample": s.temperature > 0,
                "repetition_penalty": s.repetition_penalty,
                "pad_token_id": self.tokenizer.pad_token_id,
            }
            if s.temperature > 0:
                kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
            if s.stop:
                kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
            input_ids = torch.tensor([ids], device=self.device)
            with torch.inference_mode(), self._adapter(model):
                self.lm.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    streamer=streamer,
                    stopping_criteria=[streamer],
                    **kwargs,
                )
        except BaseException as exc:  # handed to the request, which reports it
            streamer.loop.call_soon_threadsafe(streamer.queue.put_nowait, exc)

    async def _choice(self, ids: list[int], s: _Sampling, seed: int, model: str) -> AsyncGenerator[Any, None]:
        """Text deltas of one choice, then its _Finish. Text that may be the start of a stop string (or
        of a multi-byte character) is held back until it is known not to be."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        streamer = _QueueStreamer(loop, queue)
        task = loop.run_in_executor(None, self._generate_sync, ids, s, seed, model, streamer)
        tokens: list[int] = []
        generated, sent, text = 0, 0, ""
        finish, stop_reason = "length", None
        hold = max((len(x) for x in s.stop), default=1) - 1
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                generated += 1
                if stop_reason is not None:
                    continue
                if item in self.eos_ids:
                    finish = "stop"
                    continue
                tokens.append(item)
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                hits = [(text.find(x), x) for x in s.stop if x in text]
                if hits:
                    cut, stop_reason = min(hits)
                    text, finish = text[:cut], "stop"
                    continue
                ready = len(text) - hold
                while ready > sent and text[ready - 1] == "\ufffd":
                    ready -= 1
                if ready > sent:
                    yield text[sent:ready]
                    sent = ready
        finally:  # a dropped request (client gone, timeout) stops the generation at its next token
            streamer.cancelled.set()
            await task
            self.dropped += streamer.stopped_early
        if len(text) > sent:
            yield text[sent:]
        yield _Finish(finish, stop_reason, generated)

    async def _run(
        self, prompts: list[list[int]], s: _Sampling, n: int, model: str
    ) -> AsyncGenerator[tuple[int, Any], None]:
        """(choice index, delta or _Finish) for every choice: prompt i's choice j has index i*n + j."""
        base = s.seed if s.seed is not None else random.randrange(2**31)
        async with self.lock:
            for i, ids in enumerate(prompts):
                for j in range(n):
                    async with contextlib.aclosing(self._choice(ids, s, base + i * n + j, model)) as items:
                        async for item in items:
                            yield i * n + j, item

    # -- OpenAI endpoints ---------------------------------------------------------------------------
    async def completions(  # type: ignore[override]
        self, request: CompletionRequest, raw_request_info: Any = None
    ) -> AsyncGenerator[str | CompletionResponse | ErrorResponse, None]:
        try:
            prompts = self._prompts(request)
            sampling = self._sampling(request, max(len(p) for p in prompts))
        except _BadRequest as exc:
            yield _error(str(exc), exc.param)
            return
        async with contextlib.aclosing(self._respond(request, prompts, sampling, chat=False)) as outs:
            async for out in outs:
                yield out

    async def chat(  # type: ignore[override]
        self, request: ChatCompletionRequest, raw_request_info: Any = None
    ) -> AsyncGenerator[str | ChatCompletionResponse | ErrorResponse, None]:
        try:
            prompt = self._chat_prompt(request)
            sampling = self._sampling(request, len(prompt))
        except _BadRequest as exc:
            yield _error(str(exc), exc.param)
            return
        async with contextlib.aclosing(self._respond(request, [prompt], sampling, chat=True)) as outs:
            async for out in outs:
                yield out

    async def _respond(
        self, request: Any, prompts: list[list[int]], s: _Sampling, *, chat: bool
    ) -> AsyncGenerator[Any, None]:
        n = request.n or 1
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(time.time())
        prompt_tokens = sum(len(p) for p in prompts)
        texts: dict[int, list[str]] = {}
        finishes: dict[int, _Finish] = {}
        stream_cls = ChatCompletionStreamResponse if chat else CompletionStreamResponse

        def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
            body = {"id": rid, "created": created, "model": request.model, "choices": choices, "usage": usage}
            return f"data: {stream_cls.model_validate(body).model_dump_json(exclude_none=True)}\n\n"

        def delta(index: int, text: str | None, finish: _Finish | None = None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": index}
            if finish is not None:
                choice.update(finish_reason=finish.finish_reason, stop_reason=finish.stop_reason)
            if chat:
                choice["delta"] = {"content": text} if text is not None else {}
            else:
                choice["text"] = text or ""
            return choice

        try:
            if request.stream and chat:  # the assistant role first, as OpenAI does
                yield event([{"index": i, "delta": {"role": "assistant", "content": ""}} for i in range(n)])
            async with contextlib.aclosing(self._run(prompts, s, n, request.model)) as events:
                async for index, item in events:
                    if isinstance(item, _Finish):
                        finishes[index] = item
                        if request.stream:
                            yield event([delta(index, None, item)])
                    else:
                        texts.setdefault(index, []).append(item)
                        if request.stream:
                            yield event([delta(index, item)])
        except Exception as exc:
            error = _error(f"generation failed: {type(exc).__name__}: {exc}", code=500)
            yield f"data: {error.model_dump_json()}\n\n" if request.stream else error
            return
        completion_tokens = sum(f.completion_tokens for f in finishes.values())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if request.stream:
            if request.stream_options is not None and request.stream_options.include_usage:
                yield event([], usage)
            return
        choices = []
        for index in sorted(finishes):
            text, f = "".join(texts.get(index, [])), finishes[index]
            choice: dict[str, Any] = {
                "index": index,
                "finish_reason": f.finish_reason,
                "stop_reason": f.stop_reason,
            }
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            choices.append(choice)
        response_cls = ChatCompletionResponse if chat else CompletionResponse
        body = {"id": rid, "created": created, "model": request.model, "choices": choices, "usage": usage}
        yield response_cls.model_validate(body)

    # The protocol declares these as coroutines returning generators; they are async generators, as in
    # ray.serve.llm's own VLLMEngine.
    async def embeddings(  # type: ignore[override]
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        yield _error("embeddings are not served by medsyn's generator replicas", code=404)

    async def transcriptions(  # type: ignore[override]
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        yield _error("transcriptions are not served by medsyn's generator replicas", code=404)
