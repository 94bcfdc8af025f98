"""WHO ICD-10 2019 in English (XML: nested chapter/block/category/subcategory items)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from medsyn.errors import SourceError
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers._io import require_file

SOURCE = "icd10_who_2019"
FILE = Path("icd10/icd10_who_2019_en.xml")


def load(path: Path, builder: KGBuilder) -> int:
    """Add every item with its English title and parent; returns the number added."""
    require_file(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SourceError(path, f"malformed XML: {exc}", line=exc.position[0]) from exc
    added = 0

    def visit(item: ET.Element, parent: str | None) -> None:
        nonlocal added
        level = item.get("type")
        name = (item.findtext("name") or "").strip()
        title = (item.findtext("description") or "").strip()
        if level not in ("chapter", "block", "category", "subcategory") or not name:
            raise SourceError(path, f"item with type {level!r} and name {name!r} is not a valid ICD-10 item")
        builder.add_disease(name, level, source=SOURCE, title_en=title or None, parent=parent)
        added += 1
        for child in item.findall("item"):
            visit(child, name)

    for chapter in root.findall("item"):
        visit(chapter, None)
    return added
