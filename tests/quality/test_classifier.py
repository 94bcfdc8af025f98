"""The TF-IDF classifier's class weighting: a code with few notes among many of others."""

from __future__ import annotations

import numpy as np
import pytest

from medsyn.errors import MedsynError
from medsyn.quality.classifier import TfidfClassifier, TfidfConfig

# 60 notes of a frequent code and 3 of a rare one that share most of their words.
FREQUENT = [f"боль в пояснице {i} дней, усиливается при наклоне, слабость" for i in range(60)]
RARE = [
    "боль в пояснице и онемение ноги, слабость",
    "онемение ноги, боль в пояснице",
    "онемение стопы, слабость",
]
TEST = ["боль в пояснице, слабость, онемение"]


def _rare_margin(class_weight: str) -> float:
    clf = TfidfClassifier(TfidfConfig(class_weight=class_weight)).fit(
        FREQUENT + RARE, ["M54"] * len(FREQUENT) + ["G57"] * len(RARE)
    )
    scores = clf.scores(TEST)[0]
    return float(scores[clf.classes.index("G57")] - scores[clf.classes.index("M54")])


def test_balanced_weights_lift_the_rare_code() -> None:
    plain, balanced = _rare_margin("none"), _rare_margin("balanced")
    assert balanced > plain + 0.1, (plain, balanced)
    assert np.isfinite([plain, balanced]).all()


def test_a_bad_class_weight_names_the_valid_ones() -> None:
    with pytest.raises(
        MedsynError, match="option 'class_weight': 'auto' is not valid; use one of none, balanced"
    ):
        TfidfConfig(class_weight="auto")  # type: ignore[arg-type]
