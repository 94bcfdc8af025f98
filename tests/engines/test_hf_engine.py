"""The `hf` engine with the packaged default model (SmolLM2-135M-Instruct) on the CPU."""

from pathlib import Path

import pytest

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.errors import MedsynError
from medsyn.models import resolve_model


@pytest.fixture(scope="module")
def engine(default_model: Path):  # type: ignore[no-untyped-def]
    with make_engine("hf", str(default_model), batch_size=4) as e:
        yield e


@pytest.mark.integration
def test_greedy_is_reproducible_and_batch_independent(engine) -> None:  # type: ignore[no-untyped-def]
    greedy = SamplingParams(temperature=0, max_tokens=12)
    chat = Request(
        "c", messages=[{"role": "user", "content": "List three symptoms of the flu."}], params=greedy
    )
    plain = Request("p", prompt="The patient complains of", params=greedy)
    alone = engine.generate([chat])
    both = engine.generate([chat, plain])
    assert alone[0].text == both[0].text and alone[0].text
    assert both[1].text and both[1].id == "p"
    for r in both:
        assert r.error is None and 0 < (r.completion_tokens or 0) <= 12 and r.prompt_tokens


@pytest.mark.integration
def test_sampling_params_and_stop(engine) -> None:  # type: ignore[no-untyped-def]
    reqs = [
        Request(
            str(i),
            prompt="Symptoms: fever, cough. Note:",
            params=SamplingParams(temperature=0.9, max_tokens=8, seed=i),
        )
        for i in range(3)
    ]
    reqs.append(
        Request("stop", prompt="Count: one, two, three, four,", params=SamplingParams(0, 1.0, 16, (",",)))
    )
    results = engine.generate(reqs)
    assert [r.id for r in results] == ["0", "1", "2", "stop"]
    assert all(r.completion_tokens and r.completion_tokens <= 8 for r in results[:3])
    assert "," not in (results[3].text or "") and results[3].finish_reason == "stop"


def test_frequency_penalty_counts_the_note_not_the_prompt() -> None:
    import torch

    from medsyn.engines.hf_sampling import FrequencyPenalty

    ids = torch.tensor([[5, 3, 7, 3, 3, 9]])  # a prompt of 3 tokens (5, 3, 7), then 3, 3, 9
    scores = torch.zeros(1, 10)
    out = FrequencyPenalty(0.5, prompt_len=3)(ids, scores)
    assert out[0].tolist() == [0, 0, 0, -1.0, 0, 0, 0, 0, 0, -0.5]  # the prompt's 3 is not counted


@pytest.mark.integration
def test_penalties_change_greedy_notes(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = "Symptoms: cough, cough, fever. The patient complains of cough and"
    plain, penalised = engine.generate(
        [
            Request("plain", prompt=prompt, params=SamplingParams(temperature=0, max_tokens=24)),
            Request(
                "fp", prompt=prompt, params=SamplingParams(temperature=0, max_tokens=24, frequency_penalty=2)
            ),
        ]
    )
    assert plain.text and penalised.text and plain.text != penalised.text

    def most_repeated(text: str) -> int:
        words = text.lower().split()
        return max(words.count(w) for w in words)

    assert most_repeated(penalised.text) <= most_repeated(plain.text)
    with pytest.raises(MedsynError, match="frequency_penalty must be in"):
        SamplingParams(frequency_penalty=3)
    with pytest.raises(MedsynError, match="repetition_penalty must be > 0"):
        SamplingParams(repetition_penalty=0)


def test_missing_model_is_clear(tmp_path: Path) -> None:
    with pytest.raises(MedsynError, match="model 'no/such/model' not found: give a local model directory"):
        resolve_model("no/such/model")
    (tmp_path / "m").mkdir()
    with pytest.raises(MedsynError, match="has no config.json"):
        make_engine("hf", str(tmp_path / "m"))
    with pytest.raises(MedsynError, match="unknown engine 'tgi'; valid: vllm, hf, openai"):
        make_engine("tgi", "x")
    with pytest.raises(MedsynError, match="max_tokens must be a positive integer, got 0"):
        SamplingParams(max_tokens=0)
