"""Hit@k metrics of a ranking classifier, per code, with paired bootstrap intervals.

    ranks = rank_of_truth(scores, classes, test_codes)   # 0 = top prediction, -1 = unknown code
    m = hit_metrics(ranks, test_codes)                     # {"hit@1": .., "macro": {...}, "per_code": {...}}

Hit@k (RuMedTop3's metric) is micro: the share of test notes whose code is among the top k predictions.
Macro averages per-code Hit@k over the codes present in the test set. Accuracy is Hit@1. A test note
whose code the classifier never saw counts as a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

KS = (1, 3, 5)


def rank_of_truth(scores: np.ndarray, classes: Sequence[str], truth: Sequence[str]) -> np.ndarray:
    """For each row, the rank (0-based) of its true code among `classes` by score; -1 if not a class."""
    index = {c: i for i, c in enumerate(classes)}
    ranks = np.full(len(truth), -1, dtype=np.int64)
    for row, code in enumerate(truth):
        j = index.get(code)
        if j is not None:
            # Ties are counted against the truth: rank = number of classes scoring at least as high, minus 1.
            ranks[row] = int(np.sum(scores[row] >= scores[row, j])) - 1
    return ranks


def hits(ranks: np.ndarray, k: int) -> np.ndarray:
    """1.0 where the true code is in the top k, else 0.0."""
    return ((ranks >= 0) & (ranks < k)).astype(np.float64)


def hit_metrics(ranks: np.ndarray, truth: Sequence[str], ks: Sequence[int] = KS) -> dict[str, Any]:
    truth_arr = np.asarray(truth)
    codes = sorted(set(truth_arr.tolist()))
    out: dict[str, Any] = {f"hit@{k}": float(hits(ranks, k).mean()) if len(ranks) else 0.0 for k in ks}
    out["accuracy"] = out[f"hit@{ks[0]}"] if ks[0] == 1 else float(hits(ranks, 1).mean())
    per_code: dict[str, dict[str, float]] = {}
    for code in codes:
        mask = truth_arr == code
        per_code[code] = {"n_test": int(mask.sum())}
        for k in ks:
            per_code[code][f"hit@{k}"] = float(hits(ranks[mask], k).mean())
    out["macro"] = {
        f"hit@{k}": float(np.mean([per_code[c][f"hit@{k}"] for c in codes])) if codes else 0.0 for k in ks
    }
    out["per_code"] = per_code
    return out


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """`n_boot` resamples (with replacement) of range(n), shared by every configuration (paired)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def interval(values: np.ndarray, level: float = 0.95) -> list[float]:
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def bootstrap_ci(per_note: np.ndarray, idx: np.ndarray, level: float = 0.95) -> list[float]:
    """Interval of the mean of `per_note` (one value per test note) over the resamples `idx`."""
    return interval(per_note[idx].mean(axis=1), level)


def paired_delta(a: np.ndarray, b: np.ndarray, idx: np.ndarray, level: float = 0.95) -> dict[str, Any]:
    """mean(a) - mean(b) over the same test notes, with its paired bootstrap interval."""
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    return {"delta": float(a.mean() - b.mean()), "ci": interval(diffs, level)}
