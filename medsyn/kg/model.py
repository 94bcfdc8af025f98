"""The MKG data model: nodes Disease, Symptom, Drug; edges HAS_SYMPTOM and TREATED_WITH.

Every store holds the same five Arrow tables (`KGTables`); every node and edge records its source.

    Disease(code) -HAS_SYMPTOM(weight, source, evidence)-> Symptom(name, language)
    Disease(code) -TREATED_WITH(source, evidence)-> Drug(name, ids)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

LEVELS = ("chapter", "block", "category", "subcategory")

DISEASES = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("level", pa.string(), nullable=False),
        pa.field("title_ru", pa.string()),
        pa.field("title_en", pa.string()),
        pa.field("parent", pa.string()),
        pa.field("block", pa.string()),
        pa.field("chapter", pa.string()),
        pa.field("sources", pa.list_(pa.string()), nullable=False),
    ]
)
SYMPTOMS = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("sources", pa.list_(pa.string()), nullable=False),
    ]
)
DRUGS = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("ids", pa.list_(pa.string()), nullable=False),
        pa.field("sources", pa.list_(pa.string()), nullable=False),
    ]
)
HAS_SYMPTOM = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("symptom", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("evidence", pa.string()),
    ]
)
TREATED_WITH = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("drug", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("evidence", pa.string()),
    ]
)
SCHEMAS: dict[str, pa.Schema] = {
    "diseases": DISEASES,
    "symptoms": SYMPTOMS,
    "drugs": DRUGS,
    "has_symptom": HAS_SYMPTOM,
    "treated_with": TREATED_WITH,
}


@dataclass(frozen=True)
class Disease:
    code: str
    level: str
    title_ru: str | None
    title_en: str | None
    parent: str | None
    block: str | None
    chapter: str | None
    sources: tuple[str, ...] = ()

    def title(self, language: str) -> str | None:
        """The title in `language` ('ru' or 'en'), falling back to the other one."""
        first, second = (self.title_ru, self.title_en) if language == "ru" else (self.title_en, self.title_ru)
        return first or second


@dataclass(frozen=True)
class SymptomEdge:
    """One HAS_SYMPTOM edge; `code` is the disease it hangs on (a subcode when descendants are included)."""

    code: str
    name: str
    language: str
    weight: float
    source: str
    evidence: str | None = None


@dataclass(frozen=True)
class DrugEdge:
    code: str
    name: str
    ids: tuple[str, ...]
    source: str
    evidence: str | None = None


@dataclass
class KGTables:
    """The whole MKG as five Arrow tables (the bulk-export format every store reads and writes)."""

    diseases: pa.Table
    symptoms: pa.Table
    drugs: pa.Table
    has_symptom: pa.Table
    treated_with: pa.Table
    meta: dict[str, str] = field(default_factory=dict)

    def items(self) -> list[tuple[str, pa.Table]]:
        return [(name, getattr(self, name)) for name in SCHEMAS]

    def counts(self) -> dict[str, int]:
        return {name: table.num_rows for name, table in self.items()}

    def sorted(self) -> KGTables:
        """A canonical row order, so that two stores holding the same graph compare equal."""
        keys = {
            "diseases": ["code"],
            "symptoms": ["language", "name"],
            "drugs": ["name"],
            "has_symptom": ["code", "language", "symptom", "source"],
            "treated_with": ["code", "drug", "source"],
        }
        tables = {name: table.sort_by([(k, "ascending") for k in keys[name]]) for name, table in self.items()}
        return KGTables(**tables, meta=dict(self.meta))
