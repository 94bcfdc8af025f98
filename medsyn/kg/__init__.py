"""The Medical Knowledge Graph (MKG): model, stores and builders.

from medsyn.kg import open_kg
kg = open_kg("runs/kg")          # a built KG directory; "demo" for the shipped demo KG
kg.disease("M54").title_ru       # 'Дорсалгия'
kg.symptoms("M54", include_descendants=True)
"""

from __future__ import annotations

from pathlib import Path

from medsyn.kg.demo import DEMO, demo_store
from medsyn.kg.embedded import EmbeddedStore, MemoryStore, read_tables, write_kg
from medsyn.kg.model import Disease, DrugEdge, KGTables, SymptomEdge
from medsyn.kg.store import KGStore

__all__ = [
    "Disease",
    "DrugEdge",
    "EmbeddedStore",
    "KGStore",
    "KGTables",
    "MemoryStore",
    "SymptomEdge",
    "open_kg",
    "read_tables",
    "write_kg",
]


def open_kg(spec: str | Path | None = None) -> KGStore:
    """Open a KG: None or 'demo' -> the shipped demo KG; bolt:// or neo4j:// -> Neo4j; else a KG directory."""
    if spec is None or str(spec) == DEMO:
        return demo_store()
    from medsyn.kg.neo4j_store import Neo4jStore, is_neo4j_uri

    if is_neo4j_uri(str(spec)):
        return Neo4jStore(str(spec))
    return EmbeddedStore(spec)
