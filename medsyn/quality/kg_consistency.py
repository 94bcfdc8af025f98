"""KG consistency: the symptoms a note mentions that the MKG ties to other codes but not to the note's own
code (nor to any code of its category). A cheap, explainable drift signal beside the classifier's: a
haemorrhoids note (K64) that speaks of lumbar pain names a symptom of M54 that K64 does not have.

    index = SymptomCodes.from_kg(open_kg("runs/kg"), "ru")
    index.off_code("Боль в пояснице, отдаёт в ногу.", "K64")    # ['боль в пояснице', ...]

A symptom is mentioned when each of its content words is found among the note's words, inflected: a
note word that shares the symptom word's stem (all but its last 2 letters; for words of 4 letters or
fewer, all but 1, in a word at most 2 letters longer). Stricter than symptom recall's match (3 shared
letters with a short note word), which would read "после" as "постменопауза": here a false mention
would be a false alarm.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from medsyn.icd import category
from medsyn.quality.text import content_tokens, tokens

PREFIX = 3  # words match only if they share at least their first 3 characters


def stem_match(symptom_word: str, note_word: str) -> bool:
    """The note word carries the symptom word's stem: 'головная'~'головные', 'боль'~'боли'."""
    if len(symptom_word) <= 4:  # short words: one letter of ending, and no much longer word
        need = max(PREFIX, len(symptom_word) - 1)
        return need <= len(note_word) <= len(symptom_word) + 2 and note_word[:need] == symptom_word[:need]
    need = max(PREFIX + 1, len(symptom_word) - 2)
    return len(note_word) >= need and note_word[:need] == symptom_word[:need]


class SymptomCodes:
    """Which code categories the MKG ties each symptom (of one language) to."""

    def __init__(self, codes_of: dict[str, set[str]]) -> None:
        self.codes_of = codes_of
        # Each symptom under the prefixes of its content words: a note can only mention a symptom whose
        # every word's prefix is among the note's words' prefixes.
        self._words = {s: content_tokens(s) or tokens(s) for s in codes_of}
        self._by_prefix: dict[str, list[str]] = defaultdict(list)
        for symptom, words in self._words.items():
            if words:
                self._by_prefix[words[0][:PREFIX]].append(symptom)

    @classmethod
    def from_kg(cls, kg: Any, language: str) -> SymptomCodes:
        edges = kg.tables().has_symptom.to_pydict()
        codes_of: dict[str, set[str]] = defaultdict(set)
        for code, symptom, lang in zip(edges["code"], edges["symptom"], edges["language"], strict=True):
            if lang == language:
                codes_of[symptom].add(category(code))
        return cls(dict(codes_of))

    def mentioned(self, text: str) -> list[str]:
        """The MKG symptoms the text mentions."""
        note_words = tokens(text or "")
        prefixes = {w[:PREFIX] for w in note_words}
        found = []
        for prefix in prefixes:
            for symptom in self._by_prefix.get(prefix, ()):
                words = self._words[symptom]
                if all(any(stem_match(w, n) for n in note_words) for w in words):
                    found.append(symptom)
        return sorted(found)

    def off_code(self, text: str, code: str) -> list[str]:
        """The mentioned symptoms the MKG ties to other codes but not to `code`'s category."""
        own = category(code) if code else code
        return [s for s in self.mentioned(text) if own not in self.codes_of[s]]


def off_code_share(index: SymptomCodes, texts: list[str], codes: list[str]) -> float | None:
    """The share of notes that mention at least one off-code symptom (None for no notes)."""
    if not texts:
        return None
    return sum(bool(index.off_code(t or "", c)) for t, c in zip(texts, codes, strict=True)) / len(texts)
