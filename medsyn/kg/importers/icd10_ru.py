"""Russian ICD-10 (МКБ-10, NSI 1.2.643.5.1.13.13.11.1005): titles and the full hierarchy.

`;`-separated: ID;REC_CODE;MKB_CODE;MKB_NAME;ID_PARENT;ADDL_CODE;ACTUAL;DATE. Rows with ACTUAL=0
(withdrawn codes) are skipped.
"""

from __future__ import annotations

from pathlib import Path

from medsyn.errors import SourceError
from medsyn.icd import normalize_code
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers._io import read_rows

SOURCE = "icd10_ru_nsi1005"
FILE = Path("icd10/mkb10_ru_nsi1005_v2.27.csv")
_ROMAN = set("IVXL")


def level_of(code: str) -> str | None:
    """'I' -> chapter, 'A00-A09' -> block, 'A00' -> category, 'A00.0' -> subcategory."""
    if code and set(code) <= _ROMAN:
        return "chapter"
    if "-" in code:
        return "block"
    norm = normalize_code(code)
    if norm is None:
        return None
    return "category" if len(norm) == 3 else "subcategory"


def load(path: Path, builder: KGBuilder) -> int:
    """Add every current code with its Russian title and parent; returns the number added."""
    rows = list(
        read_rows(path, delimiter=";", required=("ID", "MKB_CODE", "MKB_NAME", "ID_PARENT", "ACTUAL"))
    )
    code_by_id = {row["ID"]: row["MKB_CODE"].strip() for _, row in rows}
    added = 0
    for line, row in rows:
        if row["ACTUAL"].strip() == "0":
            continue
        code = row["MKB_CODE"].strip()
        level = level_of(code)
        if level is None:
            raise SourceError(path, f"MKB_CODE {code!r} is not an ICD-10 code, block or chapter", line=line)
        parent_id = row["ID_PARENT"].strip()
        if parent_id and parent_id not in code_by_id:
            raise SourceError(path, f"ID_PARENT {parent_id!r} names no row", line=line)
        builder.add_disease(
            code,
            level,
            source=SOURCE,
            title_ru=row["MKB_NAME"],
            parent=code_by_id[parent_id] if parent_id else None,
        )
        added += 1
    return added
