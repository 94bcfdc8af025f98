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
    """Open a Medical Knowledge Graph for reading.

    Args:
        spec: None or "demo" (the shipped demo KG), a bolt:// or neo4j:// URI (Neo4j; credentials from
            $NEO4J_USER / $NEO4J_PASSWORD), or a KG directory (a path or URI) built by `medsyn kg build`.

    Returns:
        A KGStore: titles, symptoms with weights, drugs, codes.

    Raises:
        DataError: the directory holds no complete KG.
        ServiceError: Neo4j cannot be reached or refuses the credentials.

    Examples:
        >>> from medsyn.kg import open_kg
        >>> kg = open_kg("demo")
        >>> kg.has("J06")
        True
    """
    if spec is None or str(spec) == DEMO:
        return demo_store()
    from medsyn.kg.neo4j_store import Neo4jStore, is_neo4j_uri

    if is_neo4j_uri(str(spec)):
        return Neo4jStore(str(spec))
    return EmbeddedStore(spec)
