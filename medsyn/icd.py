"""ICD-10 code helpers: normalising spellings and mapping ICD-10-CM codes onto the codes a KG has."""

from __future__ import annotations

import re
from collections.abc import Collection

_CODE = re.compile(r"^([A-Z])(\d\d)\.?([0-9A-Z]{0,4})$")


def normalize_code(code: str) -> str | None:
    """'e11.65' / 'E1165' -> 'E11.65'; 'M54' -> 'M54'; None if it is not an ICD-10 code."""
    m = _CODE.match(code.strip().upper())
    if not m:
        return None
    letter, digits, rest = m.groups()
    return f"{letter}{digits}.{rest}" if rest else f"{letter}{digits}"


def category(code: str) -> str:
    """The 3-character category of a code: 'E11.65' -> 'E11'."""
    return code.split(".")[0][:3]


def resolve_code(code: str, known: Collection[str]) -> str | None:
    """The most specific code in `known` that `code` falls under ('E11.65' -> 'E11.6' -> 'E11')."""
    norm = normalize_code(code)
    if norm is None:
        return None
    while True:
        if norm in known:
            return norm
        if len(norm) <= 3:
            return None
        norm = norm[:-1].rstrip(".")
