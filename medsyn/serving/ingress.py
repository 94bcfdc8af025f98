"""medsyn's OpenAI-compatible ingress: ray.serve.llm's OpenAiIngress plus request limits and /v1/notes.

ray.serve.llm does the OpenAI protocol (models, completions, chat, streaming, n, stop, seed, usage)
against vLLM replicas (LLMServer). This subclass adds what medsyn needs in front of it:
- limits: max_tokens in [1, max_tokens_limit] (default_max_tokens when absent), n <= max_n, prompts
  of at most max_prompt_chars characters; each breach is a 400 naming the parameter;
- POST /v1/notes: MKG-grounded notes for ICD-10 codes, with provenance and quality scores.
The KG and the real notes are read once per ingress replica.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import HTTPException, Request
from ray.serve.llm.ingress import OpenAiIngress
from starlette.responses import JSONResponse, Response

from medsyn.errors import ConfigError
from medsyn.prompts import with_opening
from medsyn.quality.scores import score_note
from medsyn.serving.auth import openai_error
from medsyn.serving.config import ServeConfig
from medsyn.serving.notes import NotesIndex, NotesRequest, plan_notes
from medsyn.serving.ray_llm import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList


def _chars(value: Any) -> int:
    """Characters of a prompt or of message contents (strings, lists of parts or of token ids)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return _chars(value.get("content") if "content" in value else value.get("text"))
    if isinstance(value, list | tuple):
        return sum(_chars(v) for v in value)
    content = getattr(value, "content", None)
    return _chars(content) if content is not None else len(str(value))


class MedsynIngress(OpenAiIngress):
    def __init__(
        self,
        llm_deployments: Any,
        model_cards: Any,
        *,
        settings: dict[str, Any],
        adapters: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(llm_deployments, model_cards, **kwargs)
        self.adapters = dict(adapters or {})  # {name: dir}: served as <model id>:<name>
        from medsyn.kg import open_kg
        from medsyn.notes import load_notes

        self.settings = ServeConfig(**settings)
        self.kg = open_kg(self.settings.kg)
        self.real_notes = load_notes(self.settings.notes) if self.settings.notes else None
        self.notes_index = NotesIndex(self.real_notes)  # once per replica, not per request
        self._adapters_in_use: set[str] = set()  # adapter models that answered a /v1/notes request
        from medsyn.models import has_chat_template

        self.answers_chat = has_chat_template(self.settings.model or "")  # None: unknown here

    # -- models and LoRA adapters (<model id>:<adapter name>) ----------------------------------------
    async def _get_model_id(self, model: str | None) -> str:
        model_id = await super()._get_model_id(model)
        base, _, name = model_id.partition(":")
        if name and name not in self.adapters:
            raise HTTPException(
                404,
                f"model {model_id!r} does not exist: {base!r} has "
                + (f"the adapters {sorted(self.adapters)}" if self.adapters else "no adapters"),
            )
        return model_id

    async def model(self, model_id: str) -> ModelCard | None:
        base, _, name = model_id.partition(":")
        card = self._model_cards.get(base)
        if not name or card is None:
            return await super().model(model_id)
        if name not in self.adapters:
            return None
        metadata = {**card.metadata, "base_model": base, "adapter": self.adapters[name]}
        return ModelCard(
            id=model_id, object="model", owned_by=card.owned_by, permission=[], metadata=metadata
        )

    async def models(self) -> ModelList:
        cards = list((await super().models()).data)
        for base in self._model_cards:
            for name in self.adapters:
                card = await self.model(f"{base}:{name}")
                if card is not None:
                    cards.append(card)
        return ModelList(data=cards)

    # -- limits -------------------------------------------------------------------------------------
    def _limit_error(self, body: Any, prompt_chars: int) -> JSONResponse | None:
        s = self.settings
        for name in ("max_tokens", "max_completion_tokens"):
            value = getattr(body, name, None)
            if value is None:
                continue
            if value < 1:
                return openai_error(
                    400, f"{name} must be >= 1, got {value}", param=name, code="invalid_value"
                )
            if value > s.max_tokens_limit:
                return openai_error(
                    400,
                    f"{name} must be <= {s.max_tokens_limit}, got {value}",
                    param=name,
                    code="invalid_value",
                )
        if getattr(body, "max_tokens", None) is None and getattr(body, "max_completion_tokens", None) is None:
            body.max_tokens = s.default_max_tokens
        n = getattr(body, "n", None) or 1
        if not 1 <= n <= s.max_n:
            return openai_error(
                400, f"n must be between 1 and {s.max_n}, got {n}", param="n", code="invalid_value"
            )
        if prompt_chars > s.max_prompt_chars:
            return openai_error(
                400,
                f"the prompt has {prompt_chars} characters; this server accepts at most {s.max_prompt_chars}",
                param="messages" if isinstance(body, ChatCompletionRequest) else "prompt",
                code="context_length_exceeded",
            )
        return None

    def _guidance_error(self, scale: Any) -> JSONResponse | None:
        """Guided decoding asked of vLLM replicas (which have none): a 400 naming it, never ignored."""
        if scale is None or scale == 1 or self.settings.engine == "hf":
            return None
        return openai_error(
            400,
            f"guidance_scale {scale}: guided decoding runs on medsyn's transformers replicas (medsyn serve "
            "--engine hf), not on vLLM; leave it out or set it to 1",
            param="guidance_scale",
            code="invalid_value",
        )

    async def completions(self, body: CompletionRequest, request: Request) -> Response:
        scale = (body.model_extra or {}).get("guidance_scale")
        error = self._guidance_error(scale) or self._limit_error(body, _chars(body.prompt))
        return error or await super().completions(body, request)

    async def chat(self, body: ChatCompletionRequest, request: Request) -> Response:
        if self.answers_chat is False:  # before the replicas: their error would name Ray's internals
            return openai_error(
                400,
                f"model {self.settings.served_name!r} has no chat template, so it cannot take messages: send "
                "the prompt as text to /v1/completions",
                param="messages",
                code="invalid_value",
            )
        scale = (body.model_extra or {}).get("guidance_scale")
        error = self._guidance_error(scale) or self._limit_error(body, _chars(body.messages))
        return error or await super().chat(body, request)

    # -- /v1/notes ----------------------------------------------------------------------------------
    async def notes(self, body: NotesRequest, request: Request) -> Response:
        s = self.settings
        if len(body.codes) > s.max_codes:
            return openai_error(
                400, f"at most {s.max_codes} codes per request, got {len(body.codes)}", param="codes"
            )
        if body.n > s.max_n:
            return openai_error(400, f"n must be between 1 and {s.max_n}, got {body.n}", param="n")
        max_tokens = body.max_tokens or s.default_max_tokens
        if max_tokens > s.max_tokens_limit:
            return openai_error(
                400, f"max_tokens must be <= {s.max_tokens_limit}, got {max_tokens}", param="max_tokens"
            )
        guidance = (
            float(s.notes_guidance_scale or 1.0) if body.guidance_scale is None else body.guidance_scale
        )
        negative = body.negative_prompt or s.notes_negative_prompt
        if (error := self._guidance_error(guidance)) is not None:
            return error
        language = body.language or s.language
        if body.model is None and s.notes_model and language != s.language:
            return openai_error(
                400,
                f"this server's default notes model {s.notes_model!r} writes {s.language!r}, "
                f"not {language!r}: name a model for that language",
                param="language",
            )
        try:
            model = await self._get_model_id(body.model or s.notes_model)
        except HTTPException as exc:
            return openai_error(exc.status_code, str(exc.detail), param="model", code="model_not_found")
        try:
            planned = await asyncio.to_thread(  # planning is CPU work: off the event loop
                plan_notes,
                self.kg,
                self.notes_index.for_codes(body.codes),
                body,
                language=s.language,
                default_template=s.notes_template or "paper_main",
                form=s.notes_form or "chat",
                opening_words=s.notes_opening_words or 0,
                negative=negative if guidance != 1 else None,
                confuser_titles=self._confuser_titles(body.codes)
                if guidance != 1 and negative == "confuser"
                else None,
            )
        except ConfigError as exc:  # a bad request value; option is the request field
            return openai_error(400, str(exc), param=exc.option, code="invalid_value")
        for note in planned:
            chars = _chars(note.get("messages") or note["prompt"])
            if chars > s.max_prompt_chars:
                return openai_error(
                    400,
                    f"a note's prompt has {chars} characters (limit {s.max_prompt_chars})",
                    param="example",
                    code="context_length_exceeded",
                )
        started = time.monotonic()
        results = []
        if ":" in model and model not in self._adapters_in_use:
            # The first request for an adapter loads it on the replica; ray.serve.llm's vLLM engine refuses a
            # second concurrent load of the same adapter ("already been loaded"), so one note goes first.
            results.append(await self._generate_note(model, planned[0], body, max_tokens, guidance))
            planned = planned[1:]
            if not results[0].get("error"):
                self._adapters_in_use.add(model)
        results += await asyncio.gather(
            *(self._generate_note(model, note, body, max_tokens, guidance) for note in planned)
        )
        failed = [r for r in results if r.get("error")]
        if failed and len(failed) == len(results):
            return openai_error(502, f"generation failed: {failed[0]['error']}", code="generation_failed")
        usage = {
            k: sum(r["usage"][k] for r in results if r.get("usage"))
            for k in ("prompt_tokens", "completion_tokens")
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse(
            {
                "object": "list",
                "model": model,
                "data": results,
                "usage": usage,
                "seconds": round(time.monotonic() - started, 3),
            }
        )

    def _confuser_titles(self, codes: list[str]) -> dict[str, str]:
        """code -> its confuser's title (`medsyn.sampling.confusers`) among the server's real notes."""
        from medsyn.sampling.confusers import confusers

        if self.real_notes is None:
            raise ConfigError(
                "negative_prompt confuser needs a server with real notes (--notes)", option="negative_prompt"
            )
        wanted = [c.strip().upper() for c in codes]
        note_codes = [str(c) for c in self.real_notes["code"].to_pylist()]
        picked = confusers(
            self.kg, note_codes, [c for c in wanted if self.kg.has(c)], language=self.settings.language
        )
        return {c: self.kg.disease(o).title(self.settings.language) or o for c, o in picked.items()}

    async def _generate_note(
        self, model: str, note: dict[str, Any], body: NotesRequest, max_tokens: int, guidance: float = 1.0
    ) -> dict[str, Any]:
        common: dict[str, Any] = dict(
            model=model,
            # The request's sampling, else the server's notes defaults (the shipped generator's own).
            temperature=self.settings.notes_temperature if body.temperature is None else body.temperature,
            top_p=self.settings.notes_top_p if body.top_p is None else body.top_p,
            frequency_penalty=(
                self.settings.notes_frequency_penalty
                if body.frequency_penalty is None
                else body.frequency_penalty
            ),
            max_tokens=max_tokens,
            seed=note["seed"] % (2**31),
            stream=False,
        )
        if guidance != 1:
            common.update(guidance_scale=guidance, negative_prompt=note["negative"])
        chat = "messages" in note
        request: Any = (
            ChatCompletionRequest(messages=note["messages"], **common)
            if chat
            else CompletionRequest(prompt=note["prompt"], **common)
        )
        out = {k: v for k, v in note.items() if k not in ("messages", "example_text", "negative")}
        if guidance != 1:
            out.update(
                guidance_scale=guidance,
                negative_prompt=body.negative_prompt or self.settings.notes_negative_prompt,
            )
        out["prompt"] = note["messages"][-1]["content"] if chat else note["prompt"]
        first: Any = None
        async for chunk in self._get_response(body=request, call_method="chat" if chat else "completions"):
            first = chunk[0] if isinstance(chunk, list) else chunk
            break
        error = getattr(first, "error", None)
        if first is None or error is not None:
            out["error"] = getattr(error, "message", None) or "no response from the generator"
            return out
        choice = first.choices[0]
        text = (
            with_opening(note.get("opening"), (choice.message.content if chat else choice.text) or "") or ""
        )
        scores = score_note(text, note["symptoms"], note["example_text"])
        out.update(
            text=text,
            finish_reason=choice.finish_reason,
            usage={
                "prompt_tokens": first.usage.prompt_tokens,
                "completion_tokens": first.usage.completion_tokens,
            },
            scores={
                "symptom_recall": scores.symptom_recall,
                "length_ratio": scores.length_ratio,
                "example_similarity": scores.example_similarity,
                "example_containment": scores.example_containment,
                "copied_example": scores.copied_example,
            },
            error=None,
        )
        return out
