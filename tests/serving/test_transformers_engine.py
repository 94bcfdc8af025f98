"""The transformers generator engine for ray.serve.llm (the fallback replica), called directly: the
OpenAI semantics the Serve app relies on, checked against medsyn's hf engine and PEFT."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from ray.llm._internal.serve.core.configs.llm_config import DiskMultiplexConfig
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
)
from ray.serve.llm import LLMConfig

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.serving.transformers_engine import TransformersEngine

MODEL = "medsyn-small"
PROMPT = "The patient complains of"
MESSAGES = [{"role": "user", "content": "Name three symptoms of a cold."}]


@pytest.fixture(scope="module")
def engine(default_model: Path) -> TransformersEngine:
    config = LLMConfig(
        model_loading_config={"model_id": MODEL, "model_source": str(default_model)},
        engine_kwargs={"max_model_len": 512},
        accelerator_config={"kind": "cpu"},
    )
    engine = TransformersEngine(config)
    asyncio.run(engine.start())
    return engine


def _run(gen: AsyncGenerator[Any, None]) -> list[Any]:
    async def collect() -> list[Any]:
        return [item async for item in gen]

    return asyncio.run(collect())


def _stream(chunks: list[Any]) -> dict[int, str]:
    """choice index -> text, from the server-sent events of a stream."""
    texts: dict[int, str] = {}
    for chunk in chunks:
        assert isinstance(chunk, str) and chunk.startswith("data: ") and chunk.endswith("\n\n")
        for choice in json.loads(chunk[6:])["choices"]:
            piece = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
            texts[choice["index"]] = texts.get(choice["index"], "") + piece
    return texts


def _hf_greedy(model: Path, prompt: str, max_tokens: int, adapter: Path | None = None) -> str:
    with make_engine("hf", str(model), adapter=adapter) as hf:
        return hf.generate([Request("a", prompt=prompt, params=SamplingParams(0, 1.0, max_tokens))])[0].text


@pytest.mark.integration
def test_completions_greedy_streaming_and_batches(engine: TransformersEngine, default_model: Path) -> None:
    (full,) = _run(
        engine.completions(CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=10, temperature=0))
    )
    text = full.choices[0].text
    assert text.strip() == _hf_greedy(default_model, PROMPT, 10)
    assert full.usage.completion_tokens == 10 and full.choices[0].finish_reason == "length"
    assert full.usage.total_tokens == full.usage.prompt_tokens + 10 and full.model == MODEL
    # Streaming gives the same text, token by token.
    chunks = _run(
        engine.completions(
            CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=10, temperature=0, stream=True)
        )
    )
    assert len(chunks) > 2 and _stream(chunks) == {0: text}
    # Two prompts x n=2: four choices, prompt i's choice j at index 2i + j.
    (batch,) = _run(
        engine.completions(
            CompletionRequest(model=MODEL, prompt=[PROMPT, "Fever and"], n=2, max_tokens=6, temperature=0)
        )
    )
    assert [c.index for c in batch.choices] == [0, 1, 2, 3]
    assert batch.choices[0].text == batch.choices[1].text == text[: len(batch.choices[0].text)]
    assert batch.choices[2].text != batch.choices[0].text and batch.usage.completion_tokens == 24
    # The frequency penalty is honoured like the hf engine's (one generate-arguments builder for both).
    (penalised,) = _run(
        engine.completions(
            CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=24, temperature=0, frequency_penalty=2.0)
        )
    )
    with make_engine("hf", str(default_model)) as hf:
        params = SamplingParams(0, 1.0, 24, frequency_penalty=2.0)
        assert (
            penalised.choices[0].text.strip()
            == hf.generate([Request("a", prompt=PROMPT, params=params)])[0].text
        )
    (plain,) = _run(
        engine.completions(CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=24, temperature=0))
    )
    assert penalised.choices[0].text != plain.choices[0].text


@pytest.mark.integration
def test_chat_stop_seed_and_n(engine: TransformersEngine) -> None:
    def chat(**kw: Any) -> Any:
        (out,) = _run(engine.chat(ChatCompletionRequest(model=MODEL, messages=MESSAGES, **kw)))
        return out

    text = chat(max_tokens=24, temperature=0).choices[0].message.content
    word = next(w for w in text.split()[2:] if w.isalpha())
    cut = chat(max_tokens=24, temperature=0, stop=[word]).choices[0]
    assert cut.finish_reason == "stop" and cut.stop_reason == word and word not in cut.message.content
    assert text.startswith(cut.message.content)
    # The stream holds back what may be the start of the stop word: same text as without streaming.
    chunks = _run(
        engine.chat(
            ChatCompletionRequest(
                model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0, stop=[word], stream=True
            )
        )
    )
    assert _stream(chunks) == {0: cut.message.content}
    assert json.loads(chunks[0][6:])["choices"][0]["delta"]["role"] == "assistant"
    # Seeded samples reproduce; another seed (very likely) differs; n=2 gives two different choices.
    samples = [chat(max_tokens=16, temperature=1.0, seed=s).choices[0].message.content for s in (7, 7, 8)]
    assert samples[0] == samples[1] != samples[2]
    two = chat(max_tokens=16, temperature=1.0, seed=7, n=2)
    assert [c.index for c in two.choices] == [0, 1] and two.choices[0].message.content == samples[0]
    assert two.choices[1].message.content != samples[0]


@pytest.mark.integration
def test_guided_decoding_is_the_hf_engines(engine: TransformersEngine, default_model: Path) -> None:
    """A guided request (medsyn's extra fields, the openai client's extra_body) draws what the job's hf
    engine draws for the same seed; the guidance changes the text; bad guidance is a 400 naming it."""
    negative = "Note:"
    settings = dict(temperature=1.0, top_p=0.9, max_tokens=12, seed=21)
    request = CompletionRequest(
        model=MODEL, prompt=PROMPT, top_k=50, guidance_scale=2.5, negative_prompt=negative, **settings
    )
    (served,) = _run(engine.completions(request))
    with make_engine("hf", str(default_model)) as hf:
        params = SamplingParams(guidance_scale=2.5, **settings)  # type: ignore[arg-type]
        (job,) = hf.generate([Request("a", prompt=PROMPT, params=params, negative=negative)])
    assert served.choices[0].text.strip() == job.text and job.text
    (plain,) = _run(engine.completions(CompletionRequest(model=MODEL, prompt=PROMPT, top_k=50, **settings)))
    assert plain.choices[0].text != served.choices[0].text
    chat = ChatCompletionRequest(
        model=MODEL,
        messages=MESSAGES,
        guidance_scale=2,
        negative_prompt=[{"role": "user", "content": "Hi"}],
        **settings,
    )
    (answer,) = _run(engine.chat(chat))
    assert answer.choices[0].message.content
    for bad, param in (
        (CompletionRequest(model=MODEL, prompt=PROMPT, guidance_scale=2), "negative_prompt"),
        (
            CompletionRequest(model=MODEL, prompt=PROMPT, guidance_scale=20, negative_prompt="x"),
            "guidance_scale",
        ),
        (
            ChatCompletionRequest(model=MODEL, messages=MESSAGES, guidance_scale=2, negative_prompt="x"),
            "negative_prompt",
        ),
    ):
        call = engine.chat if isinstance(bad, ChatCompletionRequest) else engine.completions
        (error,) = _run(call(bad))  # type: ignore[operator]
        assert isinstance(error, ErrorResponse) and error.error.param == param, (param, error)


@pytest.mark.integration
def test_what_it_cannot_do_is_a_400_naming_the_parameter(engine: TransformersEngine) -> None:
    cases = [
        (CompletionRequest(model=MODEL, prompt=PROMPT, logprobs=2), "logprobs"),
        (CompletionRequest(model=MODEL, prompt=PROMPT, echo=True), "echo"),
        (CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=600), "max_tokens"),
        (CompletionRequest(model=MODEL, prompt=PROMPT, presence_penalty=0.5), "presence_penalty"),
        (CompletionRequest(model=MODEL, prompt=PROMPT, frequency_penalty=3.0), "frequency_penalty"),
        (CompletionRequest(model=MODEL, prompt="cough " * 600, max_tokens=4), "prompt"),
    ]
    for request, param in cases:
        (error,) = _run(engine.completions(request))
        assert isinstance(error, ErrorResponse) and error.error.code == 400, (param, error)
        assert error.error.param == param and param in error.error.message
    (error,) = _run(engine.chat(ChatCompletionRequest(model=MODEL, messages=MESSAGES, logprobs=True)))
    assert isinstance(error, ErrorResponse) and error.error.param == "logprobs"


@pytest.mark.integration
def test_lora_adapter_per_request(engine: TransformersEngine, default_model: Path, adapter: Path) -> None:
    def greedy(model: str) -> str:
        (out,) = _run(
            engine.completions(CompletionRequest(model=model, prompt=PROMPT, max_tokens=8, temperature=0))
        )
        return str(out.choices[0].text)

    base = greedy(MODEL)
    lora = DiskMultiplexConfig(
        model_id=f"{MODEL}:notes", max_total_tokens=None, local_path=str(adapter), lora_assigned_int_id=1
    )
    asyncio.run(engine.resolve_lora(lora))
    tuned = greedy(f"{MODEL}:notes")
    assert tuned != base and tuned.strip() == _hf_greedy(default_model, PROMPT, 8, adapter=adapter)
    assert greedy(MODEL) == base  # the base model is unchanged beside the adapter


@pytest.mark.integration
def test_a_dropped_stream_stops_generating_and_frees_the_replica(engine: TransformersEngine) -> None:
    async def drop_then_ask() -> tuple[str, Any]:
        stream = engine.completions(
            CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=400, temperature=0, stream=True)
        )
        first = await stream.__anext__()
        await stream.aclose()  # what Serve does when the client goes away or the request times out
        assert not engine.lock.locked()
        (after,) = [
            r async for r in engine.completions(CompletionRequest(model=MODEL, prompt=PROMPT, max_tokens=4))
        ]
        return first, after

    dropped = engine.dropped
    first, after = asyncio.run(drop_then_ask())
    assert first.startswith("data: ") and engine.dropped == dropped + 1  # stopped, not run to 400 tokens
    assert after.usage.completion_tokens == 4


def test_unknown_engine_is_refused_by_name() -> None:
    from medsyn.errors import MedsynError
    from medsyn.serving.config import ServeConfig

    with pytest.raises(MedsynError, match="option 'engine': 'tgi' is not valid; use one of vllm, hf"):
        ServeConfig(engine="tgi")
    assert ServeConfig(engine="hf").engine == "hf"
