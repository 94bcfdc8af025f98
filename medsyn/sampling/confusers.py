"""Each code's confuser: the frequent code its notes are likely to drift to, for guided decoding's `confuser`
negative prompt (`medsyn generate --guidance-scale 2 --negative-prompt confuser`).

    confusers(kg, note_codes, ["K64", "I83"], language="ru")   # {"K64": "K29", "I83": "M54"}

Generated notes of rare codes drift to the codes with the most real notes (RuMedTop3: M54, with 560 train
notes, takes K64's and I83's notes). Among the `top` codes with the most real notes, other than the code
itself, the confuser is the one sharing the most MKG symptoms with it (the likeliest mix-up); with no
shared symptom, the most frequent. Ties go to the more frequent code.
"""

from __future__ import annotations

from collections import Counter

from medsyn.errors import ConfigError
from medsyn.kg.store import KGStore

FREQUENT_CODES = 10


def confusers(
    kg: KGStore, note_codes: list[str], codes: list[str], *, language: str, top: int = FREQUENT_CODES
) -> dict[str, str]:
    """code -> its confuser code, for each of `codes` (see the module docstring)."""
    counts = Counter(note_codes)
    frequent = [c for c, _ in counts.most_common(top + 1) if kg.has(c)]
    if len(frequent) < 2:
        raise ConfigError(
            "the confuser negative prompt picks among the codes with the most real notes: give --notes with "
            "notes of two or more codes of the KG",
            option="negative_prompt",
        )

    def symptoms(code: str) -> set[str]:
        return {e.name for e in kg.symptoms(code, language=language, include_descendants=True)}

    frequent_symptoms = {c: symptoms(c) for c in frequent}
    out = {}
    for code in codes:
        own = symptoms(code)
        candidates = [c for c in frequent if c != code][:top]
        out[code] = max(candidates, key=lambda c: (len(own & frequent_symptoms[c]), counts[c]))
    return out
