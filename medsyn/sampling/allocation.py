"""Code allocation: how many notes of a budget each code gets.

| strategy     | notes for code c                                                               |
|--------------|--------------------------------------------------------------------------------|
| paper        | budget x w_c / sum(w), w_c = f(#real notes >= min_words) x f(#KG symptoms),    |
|              | f(x) = ln(1 + ln(1 + ln(1 + x)))  (MedSyn, arXiv 2408.02056)                   |
| rare         | min(alpha x M / ln(n_real + 5), M)  (arXiv 2511.14112; alpha=0.5, M=50);        |
|              | the budget, when smaller than the total, caps it (scaled down)                  |
| uniform      | budget / #codes                                                                 |
| proportional | budget x n_real / sum(n_real)                                                   |
| explicit     | the counts given (`M54=10,I10=5`)                                               |

Shares of a budget are rounded by largest remainder (ties to the earlier code), so they add up to the
budget exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from medsyn.errors import ConfigError

ALLOCATIONS = ("paper", "rare", "uniform", "proportional", "explicit")


def triple_log(x: float) -> float:
    """MedSyn's damping f(x) = ln(1 + ln(1 + ln(1 + x)))."""
    return math.log1p(math.log1p(math.log1p(x)))


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Integers proportional to `weights` that add up to `total` (all zero if every weight is zero)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    exact = [w / weight_sum * total for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def parse_counts(text: str) -> dict[str, int]:
    """'M54=10,I10=5' -> {'M54': 10, 'I10': 5}."""
    out: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        code, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit():
            raise ConfigError(f"explicit count {item.strip()!r} is not CODE=N (e.g. M54=10)", option="counts")
        out[code.strip().upper()] = int(n)
    return out


def allocate(
    codes: Sequence[str],
    budget: int | None,
    strategy: str,
    *,
    real_counts: Mapping[str, int] | None = None,
    long_counts: Mapping[str, int] | None = None,
    kg_symptoms: Mapping[str, int] | None = None,
    explicit: Mapping[str, int] | None = None,
    alpha: float = 0.5,
    max_per_code: int = 50,
) -> dict[str, int]:
    """Notes per code under `strategy`; codes keep the given order.

    real_counts: real notes per code; long_counts: real notes with >= min_words words (paper);
    kg_symptoms: number of KG symptoms per code (paper); explicit: counts for `explicit`.
    """
    if strategy not in ALLOCATIONS:
        raise ConfigError(
            f"unknown allocation {strategy!r}; valid: {', '.join(ALLOCATIONS)}", option="allocation"
        )
    if budget is not None and budget <= 0:
        raise ConfigError(f"the number of notes must be a positive integer, got {budget!r}", option="n")
    if budget is None and strategy not in ("explicit", "rare"):
        raise ConfigError(f"allocation {strategy!r} needs the number of notes (--n N)", option="n")
    real = real_counts or {}
    if strategy == "explicit":
        if not explicit:
            raise ConfigError(
                "allocation 'explicit' needs per-code counts, e.g. --counts M54=10,I10=5", option="counts"
            )
        bad = {c: n for c, n in explicit.items() if n < 0}
        if bad:
            raise ConfigError(f"explicit counts must be >= 0: {bad}", option="counts")
        return {c: int(explicit.get(c, 0)) for c in codes}
    if strategy == "uniform":
        weights = [1.0] * len(codes)
    elif strategy == "proportional":
        weights = [float(real.get(c, 0)) for c in codes]
        if sum(weights) == 0:
            raise ConfigError("allocation 'proportional' needs real notes for the codes (--notes FILE)")
    elif strategy == "paper":
        long = long_counts or {}
        symptoms = kg_symptoms or {}
        weights = [triple_log(long.get(c, 0)) * triple_log(symptoms.get(c, 0)) for c in codes]
        if sum(weights) == 0:
            raise ConfigError(
                "allocation 'paper' gives every code weight 0: it needs real notes of >= min_words words "
                "and KG symptoms for the codes (try --allocation uniform)"
            )
    else:  # rare
        raw = [min(alpha * max_per_code / math.log(real.get(c, 0) + 5), max_per_code) for c in codes]
        rounded = [round(x) for x in raw]
        if budget is None or sum(rounded) <= budget:
            return dict(zip(codes, rounded, strict=True))
        weights = raw
    assert budget is not None
    return dict(zip(codes, largest_remainder(weights, budget), strict=True))
