"""The `openai` engine against a real local HTTP server, through the real `openai` client."""

import time

import pytest

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.errors import MedsynError
from tests.fake_openai import FakeOpenAI


def _req(i: int, text: str = "кашель", chat: bool = True) -> Request:
    p = SamplingParams(temperature=0.5, max_tokens=32, seed=i)
    if chat:
        return Request(f"r{i}", messages=[{"role": "user", "content": f"{text} {i}"}], params=p)
    return Request(f"r{i}", prompt=f"{text} {i}", params=p)


def test_chat_and_completion_with_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sekrit")
    with FakeOpenAI(api_key="sekrit") as server:
        engine = make_engine("openai", "fake-model", base_url=server.base_url, api_key_env="MY_KEY")
        results = engine.generate([_req(1), _req(2, chat=False)])
        assert [r.text for r in results] == ["echo[1]: кашель 1", "echo[2]: кашель 2"]
        assert results[0].prompt_tokens == 2 and results[0].completion_tokens == 3
        assert all(r.error is None and r.latency_s and r.latency_s > 0 for r in results)


def test_penalties_reach_the_server() -> None:
    """frequency_penalty is OpenAI's own field; repetition_penalty (vLLM's and medsyn's servers) travels in
    the body's extras, and only when it is on."""
    with FakeOpenAI() as server:
        engine = make_engine("openai", "fake-model", base_url=server.base_url)
        penalised = SamplingParams(max_tokens=8, frequency_penalty=0.4, repetition_penalty=1.2)
        engine.generate([Request("a", prompt="x", params=penalised), _req(1, chat=False)])
        bodies = {body["prompt"]: body for body in server.bodies}  # sent concurrently: any order
        assert bodies["x"]["frequency_penalty"] == 0.4 and bodies["x"]["repetition_penalty"] == 1.2
        assert (
            bodies["кашель 1"]["frequency_penalty"] == 0.0 and "repetition_penalty" not in bodies["кашель 1"]
        )


def test_retries_429_and_5xx_with_backoff() -> None:
    with FakeOpenAI() as server:
        engine = make_engine("openai", "fake-model", base_url=server.base_url, concurrency=1, max_retries=3)
        server.fail_next = [429, 503]
        [result] = engine.generate([_req(1)])
        assert result.error is None and result.text == "echo[1]: кашель 1"
        assert server.requests == 3  # two refused, then answered
        server.fail_next = [500, 500, 500, 500]
        [failed] = engine.generate([_req(2)])
        assert failed.text is None and failed.error and "InternalServerError(500)" in failed.error


def test_bad_request_is_an_error_row_not_a_lost_row() -> None:
    with FakeOpenAI() as server:
        engine = make_engine("openai", "fake-model", base_url=server.base_url)
        results = engine.generate([_req(1), _req(2, text="FAIL400"), _req(3)])
        assert [r.id for r in results] == ["r1", "r2", "r3"]
        assert results[1].text is None and results[1].error and "BadRequestError(400)" in results[1].error
        assert results[0].error is None and results[2].error is None


def test_concurrency_is_bounded() -> None:
    with FakeOpenAI(delay=0.1) as server:
        engine = make_engine("openai", "fake-model", base_url=server.base_url, concurrency=3)
        start = time.perf_counter()
        results = engine.generate([_req(i) for i in range(12)])
        assert len(results) == 12 and all(r.error is None for r in results)
        assert server.max_in_flight == 3
        assert time.perf_counter() - start >= 0.35  # 12 requests, 3 at a time, 0.1 s each


def test_fails_fast_and_clearly() -> None:
    start = time.perf_counter()
    with pytest.raises(
        MedsynError, match=r"cannot reach the OpenAI-compatible endpoint http://127\.0\.0\.1:9/v1"
    ):
        make_engine("openai", "m", base_url="http://127.0.0.1:9/v1")
    assert time.perf_counter() - start < 15
    with (
        FakeOpenAI() as server,
        pytest.raises(MedsynError, match="has no model 'gpt-9'; it serves: fake-model"),
    ):
        make_engine("openai", "gpt-9", base_url=server.base_url)
    with FakeOpenAI(api_key="right") as server, pytest.raises(MedsynError, match="refused the API key"):
        make_engine("openai", "fake-model", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR")
