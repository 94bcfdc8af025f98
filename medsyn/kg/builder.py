"""Merge what the importers add into the five KG tables, keeping every source.

Importers call `add_disease`, `add_symptom` and `add_drug`; `to_tables()` resolves each disease's
block and chapter from the hierarchy and returns `KGTables`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from medsyn.kg.model import LEVELS, SCHEMAS, KGTables

_SPACES = re.compile(r"\s+")


def clean_name(text: str) -> str:
    """Trim and collapse whitespace; symptom and drug names are stored lower-case."""
    return _SPACES.sub(" ", text).strip().lower()


@dataclass
class _DiseaseRow:
    code: str
    level: str
    title_ru: str | None = None
    title_en: str | None = None
    parent: str | None = None
    sources: list[str] = field(default_factory=list)


@dataclass
class KGBuilder:
    """Accumulates nodes and edges; the same edge from the same source keeps its largest weight."""

    diseases: dict[str, _DiseaseRow] = field(default_factory=dict)
    symptom_nodes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    drug_nodes: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    symptom_edges: dict[tuple[str, str, str, str], tuple[float, str | None]] = field(default_factory=dict)
    drug_edges: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)

    def skip(self, source: str, reason: str, n: int = 1) -> None:
        """Record source rows that could not be used (reported by `kg build`), instead of dropping them."""
        self.skipped[(source, reason)] += n

    def add_disease(
        self,
        code: str,
        level: str,
        *,
        source: str,
        title_ru: str | None = None,
        title_en: str | None = None,
        parent: str | None = None,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level {level!r} is not one of {LEVELS}")
        row = self.diseases.setdefault(code, _DiseaseRow(code, level))
        row.title_ru = row.title_ru or (title_ru.strip() if title_ru else None)
        row.title_en = row.title_en or (title_en.strip() if title_en else None)
        row.parent = row.parent or parent
        if source not in row.sources:
            row.sources.append(source)

    def add_symptom(
        self, code: str, name: str, language: str, weight: float, *, source: str, evidence: str | None = None
    ) -> None:
        name = clean_name(name)
        if not name:
            return
        node_sources = self.symptom_nodes.setdefault((name, language), [])
        if source not in node_sources:
            node_sources.append(source)
        key = (code, name, language, source)
        old = self.symptom_edges.get(key)
        if old is None or weight > old[0]:
            self.symptom_edges[key] = (float(weight), evidence)

    def add_drug(
        self, code: str, name: str, *, source: str, ids: tuple[str, ...] = (), evidence: str | None = None
    ) -> None:
        name = clean_name(name)
        if not name:
            return
        node_ids, node_sources = self.drug_nodes.setdefault(name, ([], []))
        node_ids.extend(i for i in ids if i not in node_ids)
        if source not in node_sources:
            node_sources.append(source)
        key = (code, name, source)
        if key not in self.drug_edges:
            self.drug_edges[key] = evidence

    def _ancestor(self, code: str, level: str) -> str | None:
        seen = set()
        parent = self.diseases[code].parent
        while parent and parent in self.diseases and parent not in seen:
            seen.add(parent)
            if self.diseases[parent].level == level:
                return parent
            parent = self.diseases[parent].parent
        return None

    def to_tables(self, meta: dict[str, str] | None = None) -> KGTables:
        """The merged KG; edges must hang on known diseases."""
        unknown = {k[0] for k in self.symptom_edges} | {k[0] for k in self.drug_edges}
        unknown -= self.diseases.keys()
        if unknown:
            raise ValueError(f"edges reference codes with no disease node: {sorted(unknown)[:10]}")
        codes = sorted(self.diseases)
        d = [self.diseases[c] for c in codes]
        diseases = {
            "code": codes,
            "level": [r.level for r in d],
            "title_ru": [r.title_ru for r in d],
            "title_en": [r.title_en for r in d],
            "parent": [r.parent for r in d],
            "block": [self._ancestor(c, "block") for c in codes],
            "chapter": [self._ancestor(c, "chapter") for c in codes],
            "sources": [r.sources for r in d],
        }
        sym_keys = sorted(self.symptom_nodes, key=lambda k: (k[1], k[0]))
        symptoms = {
            "name": [k[0] for k in sym_keys],
            "language": [k[1] for k in sym_keys],
            "sources": [self.symptom_nodes[k] for k in sym_keys],
        }
        drug_names = sorted(self.drug_nodes)
        drugs = {
            "name": drug_names,
            "ids": [sorted(self.drug_nodes[n][0]) for n in drug_names],
            "sources": [self.drug_nodes[n][1] for n in drug_names],
        }
        se = sorted(self.symptom_edges.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1], kv[0][3]))
        has_symptom = {
            "code": [k[0] for k, _ in se],
            "symptom": [k[1] for k, _ in se],
            "language": [k[2] for k, _ in se],
            "weight": [v[0] for _, v in se],
            "source": [k[3] for k, _ in se],
            "evidence": [v[1] for _, v in se],
        }
        de = sorted(self.drug_edges.items())
        treated_with = {
            "code": [k[0] for k, _ in de],
            "drug": [k[1] for k, _ in de],
            "source": [k[2] for k, _ in de],
            "evidence": [v for _, v in de],
        }
        data = {
            "diseases": diseases,
            "symptoms": symptoms,
            "drugs": drugs,
            "has_symptom": has_symptom,
            "treated_with": treated_with,
        }
        tables = {name: pa.Table.from_pydict(cols, schema=SCHEMAS[name]) for name, cols in data.items()}
        return KGTables(**tables, meta=dict(meta or {}))
