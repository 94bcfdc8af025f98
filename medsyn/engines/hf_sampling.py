"""Sampling settings -> the keyword arguments of transformers' `generate`, shared by the hf engine
(batches in the generation job) and the transformers Serve replicas (one request at a time).

    kwargs = generate_kwargs(tokenizer, max_tokens=64, temperature=0.5, top_p=0.9, frequency_penalty=0.3,
                             prompt_len=input_ids.shape[1])
    model.generate(input_ids=input_ids, **kwargs)

Temperature, top-k and top-p run as one medsyn processor (`medsyn.engines.fast_sampling.nucleus`: the same
tokens as transformers' warpers, without sorting the 262k-token vocabulary at every step), and so does the
frequency penalty (only at the generated tokens). Guided decoding (classifier-free guidance, Sanchez et
al. 2023) is transformers' own: with `guidance_scale` g != 1 and a negative prompt, each next token is
scored `u + g * (c - u)` on log-probabilities, c under the prompt and u under the negative prompt; the
penalty, temperature and nucleus then apply to that score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medsyn.engines.fast_sampling import frequency_penalty_, nucleus

TRANSFORMERS_TOP_K = 50  # transformers' top-k where a model's generation config sets none


class FrequencyPenalty:
    """OpenAI's frequency penalty for transformers' generate: each token's logit drops by `penalty` per
    time it already occurs in the generated text (the prompt's tokens are not counted)."""

    def __init__(self, penalty: float, prompt_len: int) -> None:
        self.penalty, self.prompt_len = penalty, prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return frequency_penalty_(scores, input_ids[:, self.prompt_len :], self.penalty)


class Nucleus:
    """Temperature, then top-k, then top-p, as transformers' warpers apply them (`fast_sampling.nucleus`)."""

    def __init__(self, temperature: float, top_p: float, top_k: int | None) -> None:
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return nucleus(scores, top_p=self.top_p, temperature=self.temperature, top_k=self.top_k)


def generate_kwargs(
    tokenizer: Any,
    *,
    max_tokens: int,
    prompt_len: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int | None = None,
    repetition_penalty: float = 1.0,
    frequency_penalty: float = 0.0,
    min_tokens: int = 0,
    stop: Sequence[str] = (),
    guidance_scale: float = 1.0,
    negative_ids: Any = None,
    negative_mask: Any = None,
) -> dict[str, Any]:
    """`generate` arguments for these settings: greedy at temperature 0, else sampling with top-p (and
    top-k: None is transformers' default, 50; 0: off); the penalties only where set; stop strings end
    generation where they appear (the caller trims them from the text). `prompt_len`: the padded prompt
    width. Guidance (`guidance_scale` != 1) needs the negative prompt's ids and attention mask ([batch,
    width], padded on the left like the prompts)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_tokens,
        "do_sample": temperature > 0,
        "pad_token_id": tokenizer.pad_token_id,
        # transformers' own warpers off: `Nucleus` does their work
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
    }
    processors: list[Any] = []
    if min_tokens:
        kwargs["min_new_tokens"] = min_tokens
    if repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = repetition_penalty
    if frequency_penalty:
        processors.append(FrequencyPenalty(frequency_penalty, prompt_len=prompt_len))
    if temperature > 0:
        processors.append(Nucleus(temperature, top_p, TRANSFORMERS_TOP_K if top_k is None else top_k or None))
    if guidance_scale != 1.0:
        if negative_ids is None:
            raise ValueError("guided decoding (guidance_scale != 1) needs a negative prompt")
        kwargs.update(
            guidance_scale=guidance_scale,
            negative_prompt_ids=negative_ids,
            negative_prompt_attention_mask=negative_mask,
        )
    if processors:
        kwargs["logits_processor"] = processors
    if stop:
        kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    return kwargs
