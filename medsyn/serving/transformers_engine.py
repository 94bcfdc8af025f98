"""transformers generator replicas for ray.serve.llm: the fallback where vLLM cannot serve a model.

    medsyn serve --engine hf --model DIR            # or `engine: hf` in serve/config.yaml

`TransformersEngine` is an `LLMEngine` for ray.serve.llm's `LLMServer(engine_cls=...)`, so the ingress,
limits, auth, autoscaling and per-request LoRA adapters are the same as with vLLM replicas. It answers
completions and chat, streaming or not, with n, stop, seed, temperature, top_p, top_k, max_tokens and
usage, by transformers' `generate`: one request at a time per replica (add replicas for throughput).
What it cannot honour (logprobs, echo, logit_bias, tools, ...) is a 400 that names the parameter.

Its parts: `hf_requests` (requests -> prompt ids and checked sampling settings), this module (the
model, adapters, and a generation thread streaming token ids into asyncio), `openai_format` (choices
-> OpenAI responses and server-sent events); `medsyn.engines.hf_sampling` builds the `generate`
arguments here and in the hf engine alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from medsyn.engines.hf_sampling import generate_kwargs
from medsyn.serving.hf_requests import BadRequest, Sampling, chat_prompt, completion_prompts, sampling_of
from medsyn.serving.openai_format import Finish, error_response, respond
from medsyn.serving.ray_llm import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    DiskMultiplexConfig,
    ErrorResponse,
    LLMConfig,
    LLMEngine,
)


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

    # -- generation ---------------------------------------------------------------------------------
    def _generate_sync(self, ids: list[int], s: Sampling, seed: int, model: str, streamer: Any) -> None:
        import torch

        try:
            torch.manual_seed(seed)
            kwargs = generate_kwargs(
                self.tokenizer,
                max_tokens=s.max_tokens,
                prompt_len=len(ids),
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k,
                repetition_penalty=s.repetition_penalty,
                frequency_penalty=s.frequency_penalty,
                min_tokens=s.min_tokens,
                stop=s.stop,
                guidance_scale=s.guidance_scale,
                negative_ids=torch.tensor([s.negative], device=self.device) if s.negative else None,
                negative_mask=(
                    torch.ones((1, len(s.negative)), dtype=torch.long, device=self.device)
                    if s.negative
                    else None
                ),
            )
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

    async def _choice(self, ids: list[int], s: Sampling, seed: int, model: str) -> AsyncGenerator[Any, None]:
        """Text deltas of one choice, then its Finish. Text that may be the start of a stop string (or
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
        yield Finish(finish, stop_reason, generated)

    async def _run(
        self, prompts: list[list[int]], s: Sampling, n: int, model: str
    ) -> AsyncGenerator[tuple[int, Any], None]:
        """(choice index, delta or Finish) for every choice: prompt i's choice j has index i*n + j."""
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
            prompts = completion_prompts(self.tokenizer, request)
            sampling = sampling_of(request, max(len(p) for p in prompts), self.max_model_len, self.tokenizer)
        except BadRequest as exc:
            yield error_response(str(exc), exc.param)
            return
        async with contextlib.aclosing(self._answer(request, prompts, sampling, chat=False)) as outs:
            async for out in outs:
                yield out

    async def chat(  # type: ignore[override]
        self, request: ChatCompletionRequest, raw_request_info: Any = None
    ) -> AsyncGenerator[str | ChatCompletionResponse | ErrorResponse, None]:
        try:
            prompt = chat_prompt(self.tokenizer, request)
            sampling = sampling_of(request, len(prompt), self.max_model_len, self.tokenizer)
        except BadRequest as exc:
            yield error_response(str(exc), exc.param)
            return
        async with contextlib.aclosing(self._answer(request, [prompt], sampling, chat=True)) as outs:
            async for out in outs:
                yield out

    async def _answer(
        self, request: Any, prompts: list[list[int]], s: Sampling, *, chat: bool
    ) -> AsyncGenerator[Any, None]:
        n = request.n or 1
        async with contextlib.aclosing(self._run(prompts, s, n, request.model)) as events:
            answer = respond(request, events, n, sum(len(p) for p in prompts), chat=chat)
            async for out in answer:
                yield out

    # The protocol declares these as coroutines returning generators; they are async generators, as in
    # ray.serve.llm's own VLLMEngine.
    async def embeddings(  # type: ignore[override]
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        yield error_response("embeddings are not served by medsyn's generator replicas", code=404)

    async def transcriptions(  # type: ignore[override]
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        yield error_response("transcriptions are not served by medsyn's generator replicas", code=404)
