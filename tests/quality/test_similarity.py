"""Nearest-real-note search and near-duplicates agree with the per-note scores."""

from __future__ import annotations

import pytest

from medsyn.quality.scores import score_note
from medsyn.quality.similarity import EmbeddingIndex, NgramIndex, near_duplicates

REAL = [
    "Боль в горле и насморк третий день, температура 38.",
    "Боль в пояснице после подъема тяжести, отдает в ногу.",
    "Давление поднимается до 160, головная боль в затылке.",
]
QUERIES = [
    "Боль в горле, насморк, температура 38 третий день.",
    "После подъема тяжести боль в пояснице.",
    "Zzz",
]


def test_ngram_index_matches_score_note_jaccard_and_containment() -> None:
    best, jac, cont = NgramIndex(REAL).nearest(QUERIES)
    assert best.tolist()[:2] == [0, 1]
    for q, b, j, c in zip(QUERIES[:2], best[:2], jac[:2], cont[:2], strict=True):
        s = score_note(q, [], REAL[b])
        assert j == pytest.approx(s.example_similarity)
        assert c == pytest.approx(s.example_containment)
    assert best[2] == -1 and jac[2] == 0.0  # shares no 5-gram with any real note
    exact, jac_exact, _ = NgramIndex(REAL).nearest([REAL[2]])
    assert exact.tolist() == [2] and jac_exact[0] == pytest.approx(1.0)


def test_embedding_index_finds_the_paraphrased_note() -> None:
    best, sim = EmbeddingIndex(REAL, dims=2).nearest(QUERIES[:2] + [REAL[2]])
    assert best.tolist() == [0, 1, 2]
    assert sim[2] == pytest.approx(1.0) and all(-1.0 <= s <= 1.0 + 1e-9 for s in sim)


def test_near_duplicates_keep_the_first_of_each_group() -> None:
    texts = [REAL[0], REAL[1], REAL[0].upper() + "!", REAL[2], REAL[1] + " "]
    assert near_duplicates(texts, threshold=0.8) == [2, 4]
    assert near_duplicates(REAL, threshold=0.8) == []
