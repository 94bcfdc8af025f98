"""Hit@k, per-code and bootstrap metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np

from medsyn.evaluate.metrics import bootstrap_ci, bootstrap_indices, hit_metrics, paired_delta, rank_of_truth

CLASSES = ["A00", "B00", "C00", "D00"]
# Row scores; the truth and its rank (0-based) by hand:
SCORES = np.array(
    [
        [0.9, 0.1, 0.0, -1.0],  # truth A00: highest -> rank 0
        [0.9, 0.1, 0.5, -1.0],  # truth B00: below A00 and C00 -> rank 2
        [0.2, 0.2, 0.1, 0.0],  # truth B00: tied with A00 -> counted against the truth -> rank 1
        [0.0, 0.1, 0.2, 0.3],  # truth A00: lowest of four -> rank 3
        [0.5, 0.4, 0.3, 0.2],  # truth Z99: not a class -> -1 (never a hit)
    ]
)
TRUTH = ["A00", "B00", "B00", "A00", "Z99"]


def test_rank_of_truth_counts_ties_against_the_truth() -> None:
    assert rank_of_truth(SCORES, CLASSES, TRUTH).tolist() == [0, 2, 1, 3, -1]


def test_hit_metrics_micro_macro_and_per_code() -> None:
    m = hit_metrics(rank_of_truth(SCORES, CLASSES, TRUTH), TRUTH)
    # Hit@1: row 0 only -> 1/5. Hit@3: ranks 0, 2, 1 -> 3/5. Hit@5: + rank 3 -> 4/5.
    assert (m["hit@1"], m["hit@3"], m["hit@5"]) == (0.2, 0.6, 0.8)
    assert m["accuracy"] == 0.2
    # Per code: A00 ranks (0, 3): Hit@1 1/2, Hit@3 1/2, Hit@5 1. B00 ranks (2, 1): 0, 1, 1. Z99: 0, 0, 0.
    assert m["per_code"]["A00"] == {"n_test": 2, "hit@1": 0.5, "hit@3": 0.5, "hit@5": 1.0}
    assert m["per_code"]["B00"] == {"n_test": 2, "hit@1": 0.0, "hit@3": 1.0, "hit@5": 1.0}
    assert m["per_code"]["Z99"]["hit@5"] == 0.0
    # Macro: mean over the three codes.
    assert m["macro"]["hit@1"] == (0.5 + 0 + 0) / 3
    assert m["macro"]["hit@3"] == (0.5 + 1 + 0) / 3
    assert m["macro"]["hit@5"] == (1 + 1 + 0) / 3


def test_paired_bootstrap() -> None:
    a = np.array([1.0, 1.0, 0.0, 1.0])
    b = np.array([1.0, 0.0, 0.0, 1.0])
    idx = bootstrap_indices(4, 500, seed=0)
    assert idx.shape == (500, 4) and idx.min() >= 0 and idx.max() == 3
    # The same resamples for both: identical vectors differ by exactly 0 in every resample.
    assert paired_delta(a, a, idx) == {"delta": 0.0, "ci": [0.0, 0.0]}
    d = paired_delta(a, b, idx)
    assert d["delta"] == 0.25
    # a >= b note by note, so no resample can make the difference negative.
    assert 0.0 <= d["ci"][0] <= 0.25 <= d["ci"][1] <= 1.0
    lo, hi = bootstrap_ci(a, idx)
    assert 0.0 <= lo <= 0.75 <= hi <= 1.0
    assert bootstrap_ci(np.ones(4), idx) == [1.0, 1.0]
