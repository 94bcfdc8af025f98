"""Guided decoding (classifier-free guidance) in the hf engine, on a tiny random model: the math, the
off switch, and the engines that refuse it by name."""

from pathlib import Path

import pytest
import torch

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.engines.hf_sampling import generate_kwargs
from medsyn.errors import ConfigError

PROMPT = "Symptoms: cough, fever. The patient complains of"
NEGATIVE = "The patient complains of"


@pytest.fixture(scope="module")
def tiny(tiny_model: Path):  # type: ignore[no-untyped-def]
    with make_engine("hf", str(tiny_model), batch_size=4) as engine:
        yield engine


def _ids(engine, text: str) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return engine.tokenizer(engine._text(text), return_tensors="pt", add_special_tokens=False)["input_ids"]


@pytest.mark.integration
def test_guidance_raises_the_tokens_only_the_prompt_supports(tiny) -> None:  # type: ignore[no-untyped-def]
    lm, tokenizer = tiny.lm, tiny.tokenizer
    c, u = _ids(tiny, PROMPT), _ids(tiny, NEGATIVE)
    with torch.inference_mode():
        cond = lm(c).logits[0, -1].log_softmax(-1)
        uncond = lm(u).logits[0, -1].log_softmax(-1)
    token = int((cond - uncond).argmax())  # the token the prompt supports most beyond the negative
    probs = {}
    for scale in (1.0, 2.0, 3.0):
        kwargs = generate_kwargs(
            tokenizer,
            max_tokens=1,
            prompt_len=c.shape[1],
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            guidance_scale=scale,
            negative_ids=u,
            negative_mask=torch.ones_like(u),
        )
        with torch.inference_mode():
            out = lm.generate(
                c,
                attention_mask=torch.ones_like(c),
                output_scores=True,
                return_dict_in_generate=True,
                **kwargs,
            )
        scores = out.scores[0][0].log_softmax(-1)
        probs[scale] = float(scores[token].exp())
        expected = (uncond + scale * (cond - uncond)).log_softmax(-1)  # u + g (c - u), on log-probabilities
        assert torch.allclose(scores, expected, atol=1e-4)
    assert probs[1.0] == pytest.approx(float(cond[token].exp()), rel=1e-4)
    assert probs[1.0] < probs[2.0] < probs[3.0]


@pytest.mark.integration
def test_guidance_1_is_todays_sampling(tiny) -> None:  # type: ignore[no-untyped-def]
    """medsyn's sampling path (guidance off) draws what transformers' own warpers draw, seed for seed."""
    lm, tokenizer = tiny.lm, tiny.tokenizer
    c = _ids(tiny, PROMPT)
    outputs = []
    for kwargs in (
        dict(
            do_sample=True, temperature=0.8, top_p=0.9, max_new_tokens=16, pad_token_id=tokenizer.pad_token_id
        ),
        generate_kwargs(tokenizer, max_tokens=16, prompt_len=c.shape[1], temperature=0.8, top_p=0.9),
    ):
        torch.manual_seed(11)
        with torch.inference_mode():
            outputs.append(lm.generate(c, attention_mask=torch.ones_like(c), **kwargs)[0].tolist())
    assert outputs[0] == outputs[1]
    params = SamplingParams(temperature=0.8, max_tokens=12, seed=5)
    plain = tiny.generate([Request("a", prompt=PROMPT, params=params)])
    with_negative = tiny.generate([Request("a", prompt=PROMPT, params=params, negative=NEGATIVE)])
    assert plain[0].text == with_negative[0].text and plain[0].text


@pytest.mark.integration
def test_guided_batches_run_and_reproduce(tiny) -> None:  # type: ignore[no-untyped-def]
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=10, guidance_scale=2.0, seed=3)
    requests = [
        Request(str(i), prompt=f"{PROMPT} {'pain ' * i}", params=params, negative=NEGATIVE + " x" * i)
        for i in range(3)
    ]
    first, again = tiny.generate(requests), tiny.generate(requests)
    assert all(r.error is None and r.completion_tokens for r in first)
    assert [r.text for r in first] == [r.text for r in again]
    unguided = tiny.generate(
        [Request(r.id, prompt=r.prompt, params=SamplingParams(1.0, 0.95, 10, seed=3)) for r in requests]
    )
    assert [r.text for r in unguided] != [r.text for r in first]


def test_guidance_needs_a_negative_prompt_and_vllm_refuses_it() -> None:
    from medsyn.engines.vllm_engine import sampling_kwargs

    guided = SamplingParams(guidance_scale=2.0)
    with pytest.raises(ConfigError, match="needs a negative prompt"):
        Request("r", prompt="x", params=guided)
    with pytest.raises(ConfigError, match="the prompt's form"):
        Request("r", prompt="x", params=guided, negative=[{"role": "user", "content": "y"}])
    with pytest.raises(ConfigError, match=r"guidance_scale must be in \[1, 10\]"):
        SamplingParams(guidance_scale=0.5)
    with pytest.raises(ConfigError, match="not on vLLM") as err:
        sampling_kwargs(guided)
    assert err.value.option == "guidance_scale"
