"""medsyn's top-p and frequency penalty (medsyn.engines.fast_sampling) against transformers' own warpers."""

import pytest
import torch
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from medsyn.engines.fast_sampling import frequency_penalty_, nucleus


def _warpers(scores: torch.Tensor, temperature: float, top_p: float, top_k: int | None) -> torch.Tensor:
    out = TemperatureLogitsWarper(temperature)(None, scores.clone())
    if top_k:
        out = TopKLogitsWarper(top_k)(None, out)
    return TopPLogitsWarper(top_p)(None, out) if top_p < 1 else out


@pytest.mark.parametrize(
    ("temperature", "top_p", "top_k"),
    [(0.5, 0.9, None), (1.0, 0.9, 50), (0.7, 1.0, 50), (1.0, 0.95, 5), (0.8, 0.95, None)],
)
def test_nucleus_keeps_the_tokens_the_warpers_keep(
    temperature: float, top_p: float, top_k: int | None
) -> None:
    torch.manual_seed(0)
    scores = torch.randn(6, 50_000) * 4  # peaked rows, as a language model's: the nucleus is small
    expected = _warpers(scores, temperature, top_p, top_k)
    got = nucleus(scores.clone(), top_p=top_p, temperature=temperature, top_k=top_k)
    kept = ~torch.isinf(expected)
    assert torch.equal(kept, ~torch.isinf(got))
    assert torch.allclose(got[kept], expected[kept])


def test_a_flat_row_searches_past_the_first_candidates() -> None:
    torch.manual_seed(1)
    scores = torch.randn(4, 50_000)  # flat: the nucleus of 0.9 holds about 40,000 tokens
    scores[0] *= 20  # one peaked row among them
    expected = _warpers(scores, 1.0, 0.9, None)
    got = nucleus(scores.clone(), top_p=0.9, candidates=(16, 256))
    kept, got_kept = ~torch.isinf(expected), ~torch.isinf(got)
    assert kept[1:].sum(dim=1).min() > 30_000
    # The same tokens, but for float rounding of the cumulative sum at the nucleus' edge (a token or two
    # of the ~40,000, each of a probability near 1/50,000).
    assert (kept != got_kept).sum(dim=1).max() <= 2
    assert torch.equal(kept[0], got_kept[0])


def test_nucleus_takes_one_top_p_per_row_and_leaves_top_p_1_alone() -> None:
    scores = torch.tensor([[4.0, 3.0, 1.0, 0.0], [4.0, 3.0, 1.0, 0.0]])
    out = nucleus(scores, top_p=torch.tensor([0.5, 0.99]))
    assert (~torch.isinf(out)).sum(dim=1).tolist() == [1, 4]
    assert nucleus(scores, top_p=1.0) is scores


def test_frequency_penalty_is_the_count_table() -> None:
    torch.manual_seed(2)
    scores = torch.randn(3, 100)
    generated = torch.randint(0, 100, (3, 12))
    counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones(3, 12))
    expected = scores - 0.3 * counts
    assert torch.allclose(frequency_penalty_(scores.clone(), generated, 0.3), expected)
    assert torch.equal(frequency_penalty_(scores.clone(), generated[:, :0], 0.3), scores)
