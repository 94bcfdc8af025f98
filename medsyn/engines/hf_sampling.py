"""Sampling settings -> the keyword arguments of transformers' `generate`, shared by the hf engine
(batches in the generation job) and the transformers Serve replicas (one request at a time).

    kwargs = generate_kwargs(tokenizer, max_tokens=64, temperature=0.5, top_p=0.9, frequency_penalty=0.3,
                             prompt_len=input_ids.shape[1])
    model.generate(input_ids=input_ids, **kwargs)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class FrequencyPenalty:
    """OpenAI's frequency penalty for transformers' generate: each token's logit drops by `penalty` per
    time it already occurs in the generated text (the prompt's tokens are not counted)."""

    def __init__(self, penalty: float, prompt_len: int) -> None:
        self.penalty, self.prompt_len = penalty, prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        generated = input_ids[:, self.prompt_len :]
        counts = torch.zeros_like(scores).scatter_add_(
            1, generated, torch.ones_like(generated, dtype=scores.dtype)
        )
        return scores - self.penalty * counts


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
) -> dict[str, Any]:
    """`generate` arguments for these settings: greedy at temperature 0, else sampling with top-p (and
    top-k where given; None keeps the model's default); the penalties only where set; stop strings end
    generation where they appear (the caller trims them from the text). `prompt_len`: the padded
    prompt width."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_tokens,
        "do_sample": temperature > 0,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if min_tokens:
        kwargs["min_new_tokens"] = min_tokens
    if temperature > 0:
        kwargs.update(temperature=temperature, top_p=top_p)
        if top_k is not None:
            kwargs["top_k"] = top_k
    if repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = repetition_penalty
    if frequency_penalty:
        kwargs["logits_processor"] = [FrequencyPenalty(frequency_penalty, prompt_len=prompt_len)]
    if stop:
        kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    return kwargs
