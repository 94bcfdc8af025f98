"""Checks against test sets: synthetic notes that copy a test note, and runs whose prompts showed one.

    copies = copies_of_test_notes(synthetic_texts, test_texts, threshold=0.5)   # a bool per note
    refuse_test_examples(rows, run_notes, test_notes, "dev.jsonl")   # DataError: an example was a test note

A note copies a test note when at least `threshold` of its character 5-grams (the same 5-grams as the
copy scores) are found in one test note. A run showed a test note when one of its example or opening
notes has a test note's id or the same text (hash of the normalised text).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa

from medsyn.errors import DataError
from medsyn.quality.similarity import NgramIndex
from medsyn.quality.text import tokens


def text_hash(text: str) -> str:
    """SHA-256 of the text's words, lower-cased, letters only: the same note whatever its spacing."""
    return hashlib.sha256(" ".join(tokens(text or "")).encode()).hexdigest()


def copies_of_test_notes(texts: Sequence[str], test_texts: Sequence[str], *, threshold: float) -> list[bool]:
    """Per note: does one test note hold at least `threshold` of its 5-grams?"""
    if not test_texts or not texts:
        return [False] * len(texts)
    _, containment = NgramIndex(test_texts).max_containment(list(texts))
    return [bool(c >= threshold) for c in containment]


def fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text_hash(text).encode())
    return digest.hexdigest()


def refuse_test_examples(rows: pa.Table, run_notes: pa.Table | None, test: pa.Table, test_path: str) -> None:
    """Refuse a run whose prompt examples or openings were notes of the test set, by id or by text."""
    shown: set[str] = set()
    for column in ("example_id", "opening_id"):
        if column in rows.column_names:
            shown |= {i for i in rows[column].to_pylist() if i}
    if not shown:
        return
    test_ids = set(test["note_id"].to_pylist())
    by_id = sorted(shown & test_ids)
    by_text: list[str] = []
    if run_notes is not None:
        test_hashes = {text_hash(t) for t in test["text"].to_pylist()}
        texts = dict(zip(run_notes["note_id"].to_pylist(), run_notes["text"].to_pylist(), strict=True))
        by_text = sorted(i for i in shown if i in texts and text_hash(texts[i]) in test_hashes)
    if by_id or by_text:
        named = ", ".join((by_id + [i for i in by_text if i not in by_id])[:5])
        raise DataError(
            f"the synthetic run showed notes of the test set {test_path!r} in its prompts as examples or "
            f"openings ({len(by_id)} by note id, {len(by_text)} by text; e.g. {named}): its notes may "
            "carry the test notes' words, so scoring on that test set would be contaminated. Generate with "
            "--notes naming the train split only"
        )
