"""Text normalisation shared by the scores: tokens, inflection-tolerant matching, character n-grams."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_STOP_RU = "в во на при с со и или по от до за из к ко у о об а не"
_STOP_EN = "of the a an in on at with and or to for by from"
STOPWORDS = frozenset(f"{_STOP_RU} {_STOP_EN}".split())


def tokens(text: str) -> list[str]:
    """Lower-cased words (letters only; 'ё' folded to 'е')."""
    return _WORD.findall(text.lower().replace("ё", "е"))


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


def same_word(a: str, b: str) -> bool:
    """Inflection-tolerant match: a shared prefix of >= max(3, shorter length - 2) characters.

    'боль'~'болит', 'горле'~'горло', 'температура'~'температуры', 'cough'~'coughing'.
    """
    if a == b:
        return True
    n = min(len(a), len(b))
    need = max(3, n - 2)
    return n >= need and a[:need] == b[:need]


def char_ngrams(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the text with whitespace and punctuation collapsed."""
    norm = " ".join(tokens(text))
    if len(norm) < n:
        return {norm} if norm else set()
    return {norm[i : i + n] for i in range(len(norm) - n + 1)}
