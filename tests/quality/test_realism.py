"""Realism (a classifier two-sample test) on real RuMedTop3 notes: two halves of the same real notes
cannot be told apart, notes that carry a giveaway phrase are, and the phrase is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsyn.notes import load_notes
from medsyn.quality.realism import realism

CODES = {"J06", "K29", "M54", "I10", "N39"}


@pytest.fixture(scope="module")
def real_notes(real_data_dir: Path) -> list[str]:
    notes = load_notes(real_data_dir / "rumedbench" / "RuMedTop3" / "train_v1.jsonl")
    pairs = zip(notes["text"].to_pylist(), notes["code"].to_pylist(), strict=True)
    texts = [text for text, code in pairs if code in CODES]
    assert len(texts) > 600
    return texts


@pytest.mark.integration
def test_halves_of_the_same_real_notes_are_indistinguishable(real_notes: list[str]) -> None:
    order = np.random.default_rng(1).permutation(len(real_notes))
    half = len(order) // 2
    result = realism([real_notes[i] for i in order[:half]], [real_notes[i] for i in order[half:]])
    assert 0.4 <= result["value"] <= 0.6, result
    assert (result["generated"], result["real"], result["folds"]) == (half, len(order) - half, 5)


@pytest.mark.integration
def test_a_giveaway_phrase_is_caught_and_named(real_notes: list[str]) -> None:
    order = np.random.default_rng(2).permutation(len(real_notes))
    half = len(order) // 2
    # A third of the "generated" notes end with a phrase real notes never have.
    generated = [
        real_notes[i] + (" Пишу по просьбе врача." if k % 3 == 0 else "") for k, i in enumerate(order[:half])
    ]
    result = realism(generated, [real_notes[i] for i in order[half:]])
    assert result["value"] >= 0.62, result  # a third told apart for certain, the rest by chance
    assert {"просьбе", "врача", "пишу"} & set(" ".join(result["generated_markers"][:3]).split()), result
    # The same with at most 100 notes per side (a seeded sample): still caught, sizes capped.
    capped = realism(generated, [real_notes[i] for i in order[half:]], max_notes=100)
    assert (capped["generated"], capped["real"]) == (100, 100) and capped["value"] >= 0.6, capped


def test_too_few_notes_are_not_judged() -> None:
    result = realism(["Кашель."], ["Насморк.", "Боль в горле."])
    assert result["value"] is None and "2+ generated notes" in result["reason"]
