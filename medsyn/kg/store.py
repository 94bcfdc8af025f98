"""The store interface that the rest of medsyn reads the MKG through.

A store only has to export its tables (`tables()`, one bulk read per job or worker); the reads below
are answered from an in-memory index built from them on first use, so every store answers alike.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections import defaultdict
from functools import cached_property

from medsyn.errors import UnknownCodeError
from medsyn.icd import normalize_code
from medsyn.kg.model import Disease, DrugEdge, KGTables, SymptomEdge


class _Index:
    """Dict indexes over the tables, each built on first use in one pass over its columns."""

    def __init__(self, tables: KGTables) -> None:
        self.tables = tables

    @cached_property
    def diseases(self) -> dict[str, Disease]:
        d = self.tables.diseases
        columns = [
            d[name].to_pylist()
            for name in ("code", "level", "title_ru", "title_en", "parent", "block", "chapter")
        ]
        sources = d["sources"].to_pylist()
        return {
            row[0]: Disease(*row, sources=tuple(src))  # type: ignore[misc]
            for row, src in zip(zip(*columns, strict=True), sources, strict=True)
        }

    @cached_property
    def children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = defaultdict(list)
        for code, disease in sorted(self.diseases.items()):
            if disease.parent:
                children[disease.parent].append(code)
        return children

    @cached_property
    def symptoms(self) -> dict[str, list[SymptomEdge]]:
        t = self.tables.has_symptom
        out: dict[str, list[SymptomEdge]] = defaultdict(list)
        columns = [
            t[name].to_pylist() for name in ("code", "symptom", "language", "weight", "source", "evidence")
        ]
        for row in zip(*columns, strict=True):
            out[row[0]].append(SymptomEdge(*row))
        for edges in out.values():
            edges.sort(key=lambda e: (-e.weight, e.language, e.name, e.source))
        return out

    @cached_property
    def drugs(self) -> dict[str, list[DrugEdge]]:
        g = self.tables.drugs
        drug_ids = {
            name: tuple(ids) for name, ids in zip(g["name"].to_pylist(), g["ids"].to_pylist(), strict=True)
        }
        t = self.tables.treated_with
        out: dict[str, list[DrugEdge]] = defaultdict(list)
        columns = [t[name].to_pylist() for name in ("code", "drug", "source", "evidence")]
        for code, drug, source, evidence in zip(*columns, strict=True):
            out[code].append(DrugEdge(code, drug, drug_ids.get(drug, ()), source, evidence))
        for edges in out.values():
            edges.sort(key=lambda e: (e.name, e.source))
        return out


class KGStore(ABC):
    """Read access to an MKG. Implementations: `EmbeddedStore` (Parquet, default), Neo4j."""

    @abstractmethod
    def tables(self) -> KGTables:
        """The whole KG as Arrow tables (bulk export)."""

    @abstractmethod
    def location(self) -> str:
        """Where this KG lives (a directory, 'demo', a URI), for messages and provenance."""

    @cached_property
    def _index(self) -> _Index:
        return _Index(self.tables())

    def codes(self, level: str | None = None) -> list[str]:
        """All codes, or those of one level ('chapter', 'block', 'category', 'subcategory'), sorted."""
        return sorted(c for c, d in self._index.diseases.items() if level is None or d.level == level)

    def has(self, code: str) -> bool:
        return code in self._index.diseases

    def disease(self, code: str) -> Disease:
        """The disease node of `code`; `UnknownCodeError` (with close codes) if there is none."""
        try:
            return self._index.diseases[code]
        except KeyError:
            raise UnknownCodeError(code, self.suggest(code)) from None

    def children(self, code: str) -> list[str]:
        """Direct subcodes of `code` (a category's subcategories, a block's categories...)."""
        self.disease(code)
        return list(self._index.children.get(code, []))

    def descendants(self, code: str) -> list[str]:
        """All codes below `code`, depth first."""
        out: list[str] = []
        stack = list(reversed(self.children(code)))
        while stack:
            child = stack.pop()
            out.append(child)
            stack.extend(reversed(self._index.children.get(child, [])))
        return out

    def symptoms(
        self, code: str, *, language: str | None = None, include_descendants: bool = False
    ) -> list[SymptomEdge]:
        """Weighted symptom edges of `code` (heaviest first); with its subcodes' edges if asked."""
        self.disease(code)
        codes = [code, *self.descendants(code)] if include_descendants else [code]
        edges = [e for c in codes for e in self._index.symptoms.get(c, [])]
        if language is not None:
            edges = [e for e in edges if e.language == language]
        if include_descendants:
            edges.sort(key=lambda e: (-e.weight, e.language, e.name, e.source, e.code))
        return edges

    def drugs(self, code: str, *, include_descendants: bool = False) -> list[DrugEdge]:
        """Drugs indicated for `code` (and its subcodes if asked)."""
        self.disease(code)
        codes = [code, *self.descendants(code)] if include_descendants else [code]
        return [e for c in codes for e in self._index.drugs.get(c, [])]

    def find(self, text: str, *, limit: int = 10) -> list[Disease]:
        """Diseases whose Russian or English title contains `text` (case-insensitive), codes first."""
        needle = text.casefold().strip()
        hits = [
            d
            for d in self._index.diseases.values()
            if needle and (needle in (d.title_ru or "").casefold() or needle in (d.title_en or "").casefold())
        ]
        hits.sort(key=lambda d: (len(d.code), d.code))
        return hits[:limit]

    def suggest(self, code: str, *, limit: int = 5) -> list[str]:
        """Known codes close to `code`: for a code-like query the nearest codes of the same letter
        (sub-codes of the same category first), otherwise by spelling."""
        known = self._index.diseases
        wanted = normalize_code(code)
        if wanted is None:
            return difflib.get_close_matches(code.strip().upper(), list(known), n=limit, cutoff=0.5)
        if wanted in known:
            return [wanted]
        letter, number = wanted[0], int(wanted[1:3])
        candidates = [c for c in known if normalize_code(c) is not None and c[0] == letter]
        candidates.sort(key=lambda c: (c[:3] != wanted[:3], abs(int(c[1:3]) - number), len(c), c))
        return candidates[:limit]
