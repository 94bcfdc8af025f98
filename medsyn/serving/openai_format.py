"""Generated choices -> OpenAI responses: one response object, or server-sent events when streaming
(the assistant role first for chat, one event per text delta and per finish, usage last if asked)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from medsyn.serving.ray_llm import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    CompletionResponse,
    CompletionStreamResponse,
    ErrorInfo,
    ErrorResponse,
)


@dataclass
class Finish:
    """How one choice ended: its finish reason, the stop string that ended it, its token count."""

    finish_reason: str
    stop_reason: str | None
    completion_tokens: int


def error_response(message: str, param: str | None = None, code: int = 400) -> ErrorResponse:
    kind = "BadRequestError" if code < 500 else "InternalServerError"
    return ErrorResponse(error=ErrorInfo(message=message, type=kind, param=param, code=code))


async def respond(
    request: Any, events: AsyncIterator[tuple[int, Any]], n: int, prompt_tokens: int, *, chat: bool
) -> AsyncIterator[Any]:
    """Answer `request` from `events`, (choice index, text delta or Finish) pairs of its n choices."""
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    texts: dict[int, list[str]] = {}
    finishes: dict[int, Finish] = {}
    stream_cls = ChatCompletionStreamResponse if chat else CompletionStreamResponse

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        body = {"id": rid, "created": created, "model": request.model, "choices": choices, "usage": usage}
        return f"data: {stream_cls.model_validate(body).model_dump_json(exclude_none=True)}\n\n"

    def delta(index: int, text: str | None, finish: Finish | None = None) -> dict[str, Any]:
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
        async for index, item in events:
            if isinstance(item, Finish):
                finishes[index] = item
                if request.stream:
                    yield event([delta(index, None, item)])
            else:
                texts.setdefault(index, []).append(item)
                if request.stream:
                    yield event([delta(index, item)])
    except Exception as exc:
        error = error_response(f"generation failed: {type(exc).__name__}: {exc}", code=500)
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
