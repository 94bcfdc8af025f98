"""Cheap per-note scores, always computed by the generation job.

- symptom_recall: share of the sampled symptoms the note mentions (every content word of a symptom
  matched by some word of the note, tolerant of Russian inflection);
- length_ratio: words in the note / words in its example;
- example_similarity: Jaccard similarity of character 5-grams of note and example;
- example_containment: share of the note's 5-grams found in the example; `copied_example` when it is
  at least `copy_threshold` (a note that copies its example).
"""

from __future__ import annotations

from dataclasses import dataclass

from medsyn.quality.text import char_ngrams, content_tokens, same_word, tokens

COPY_THRESHOLD = 0.7


def mentions(note_words: list[str], symptom: str) -> bool:
    """Whether every content word of `symptom` appears (inflected or not) among `note_words`."""
    words = content_tokens(symptom) or tokens(symptom)
    return bool(words) and all(any(same_word(w, n) for n in note_words) for w in words)


def symptom_recall(note: str, symptoms: list[str]) -> float | None:
    if not symptoms:
        return None
    note_words = tokens(note)
    return sum(mentions(note_words, s) for s in symptoms) / len(symptoms)


@dataclass(frozen=True)
class NoteScores:
    symptom_recall: float | None
    length_ratio: float | None
    example_similarity: float | None
    example_containment: float | None
    copied_example: bool


def score_note(
    text: str, symptoms: list[str], example: str | None, *, copy_threshold: float = COPY_THRESHOLD
) -> NoteScores:
    recall = symptom_recall(text, symptoms)
    if not example:
        return NoteScores(recall, None, None, None, False)
    note_len, example_len = len(text.split()), len(example.split())
    a, b = char_ngrams(text), char_ngrams(example)
    jaccard = len(a & b) / len(a | b) if a | b else 0.0
    containment = len(a & b) / len(a) if a else 0.0
    return NoteScores(
        symptom_recall=recall,
        length_ratio=note_len / example_len if example_len else None,
        example_similarity=jaccard,
        example_containment=containment,
        copied_example=containment >= copy_threshold,
    )
