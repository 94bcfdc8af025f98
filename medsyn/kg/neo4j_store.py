"""The MKG in Neo4j (Bolt, official `neo4j` driver), behind the same `KGStore` interface.

    medsyn kg push runs/kg --neo4j bolt://localhost:7687        # load (idempotent: MERGE)
    kg = Neo4jStore("bolt://localhost:7687")                     # read: one query per table
    medsyn kg pull --neo4j bolt://localhost:7687 --out runs/kg2  # export to the embedded format

Graph: (:Disease {code})-[:CHILD_OF]->(:Disease), (:Disease)-[:HAS_SYMPTOM {source, weight, evidence}]->
(:Symptom {name, language}), (:Disease)-[:TREATED_WITH {source, evidence}]->(:Drug {name}); a
(:MedsynKG) node, written last, marks a complete load. Credentials: NEO4J_USER / NEO4J_PASSWORD (and
NEO4J_DATABASE) from the environment unless given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from medsyn.errors import ConfigError, KGNotFoundError, ServiceError
from medsyn.kg.model import SCHEMAS, KGTables
from medsyn.kg.store import KGStore

SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
FORMAT_VERSION = 1
BATCH = 5_000

CONSTRAINTS = (
    "CREATE CONSTRAINT medsyn_disease_code IF NOT EXISTS FOR (d:Disease) REQUIRE d.code IS UNIQUE",
    "CREATE CONSTRAINT medsyn_symptom_key IF NOT EXISTS FOR (s:Symptom) "
    "REQUIRE (s.name, s.language) IS UNIQUE",
    "CREATE CONSTRAINT medsyn_drug_name IF NOT EXISTS FOR (g:Drug) REQUIRE g.name IS UNIQUE",
    "CREATE CONSTRAINT medsyn_kg_id IF NOT EXISTS FOR (m:MedsynKG) REQUIRE m.id IS UNIQUE",
)
LOAD = {
    "diseases": """UNWIND $rows AS r MERGE (d:Disease {code: r.code})
        SET d.level = r.level, d.title_ru = r.title_ru, d.title_en = r.title_en, d.block = r.block,
            d.chapter = r.chapter, d.sources = r.sources""",
    "hierarchy": """UNWIND $rows AS r MATCH (c:Disease {code: r.code}), (p:Disease {code: r.parent})
        MERGE (c)-[:CHILD_OF]->(p)""",
    "symptoms": """UNWIND $rows AS r MERGE (s:Symptom {name: r.name, language: r.language})
        SET s.sources = r.sources""",
    "drugs": "UNWIND $rows AS r MERGE (g:Drug {name: r.name}) SET g.ids = r.ids, g.sources = r.sources",
    "has_symptom": """UNWIND $rows AS r
        MATCH (d:Disease {code: r.code}), (s:Symptom {name: r.symptom, language: r.language})
        MERGE (d)-[e:HAS_SYMPTOM {source: r.source}]->(s) SET e.weight = r.weight, e.evidence = r.evidence""",
    "treated_with": """UNWIND $rows AS r MATCH (d:Disease {code: r.code}), (g:Drug {name: r.drug})
        MERGE (d)-[e:TREATED_WITH {source: r.source}]->(g) SET e.evidence = r.evidence""",
}
READ = {
    "diseases": """MATCH (d:Disease) OPTIONAL MATCH (d)-[:CHILD_OF]->(p:Disease)
        RETURN d.code AS code, d.level AS level, d.title_ru AS title_ru, d.title_en AS title_en,
               p.code AS parent, d.block AS block, d.chapter AS chapter, d.sources AS sources""",
    "symptoms": "MATCH (s:Symptom) RETURN s.name AS name, s.language AS language, s.sources AS sources",
    "drugs": "MATCH (g:Drug) RETURN g.name AS name, g.ids AS ids, g.sources AS sources",
    "has_symptom": """MATCH (d:Disease)-[e:HAS_SYMPTOM]->(s:Symptom)
        RETURN d.code AS code, s.name AS symptom, s.language AS language, e.weight AS weight,
               e.source AS source, e.evidence AS evidence""",
    "treated_with": """MATCH (d:Disease)-[e:TREATED_WITH]->(g:Drug)
        RETURN d.code AS code, g.name AS drug, e.source AS source, e.evidence AS evidence""",
}


def is_neo4j_uri(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(SCHEMES)


@dataclass(frozen=True)
class Neo4jSettings:
    """Where the KG lives in Neo4j and how long a write may keep retrying."""

    uri: str
    user: str = "neo4j"
    password: str | None = None
    database: str | None = None
    retry_seconds: float = 30.0
    """Seconds a managed transaction keeps retrying after a lost connection or a transient error before
    the load fails (the driver's `max_transaction_retry_time`)."""

    @classmethod
    def from_env(cls, uri: str | None = None, **overrides: Any) -> Neo4jSettings:
        uri = uri or os.environ.get("NEO4J_URI")
        if not uri:
            raise ConfigError("no Neo4j URI: pass --neo4j bolt://HOST:PORT or set NEO4J_URI")
        if not is_neo4j_uri(uri):
            raise ConfigError(f"{uri!r} is not a Neo4j URI; it must start with one of {', '.join(SCHEMES)}")
        values: dict[str, Any] = {
            "user": os.environ.get("NEO4J_USER", "neo4j"),
            "password": os.environ.get("NEO4J_PASSWORD"),
            "database": os.environ.get("NEO4J_DATABASE"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(uri=uri, **values)


def connect(settings: Neo4jSettings) -> Any:
    """A verified driver; clear errors for an unreachable server or wrong credentials."""
    import neo4j
    from neo4j.exceptions import AuthError, ServiceUnavailable

    auth = (settings.user, settings.password) if settings.password is not None else None
    driver = neo4j.GraphDatabase.driver(
        settings.uri,
        auth=auth,
        connection_timeout=10,
        max_transaction_retry_time=settings.retry_seconds,
        notifications_min_severity="OFF",
    )
    try:
        driver.verify_connectivity()
    except AuthError as exc:
        driver.close()
        raise ServiceError(
            f"Neo4j at {settings.uri} refused the credentials of user {settings.user!r} "
            "(set NEO4J_USER and NEO4J_PASSWORD)"
        ) from exc
    except (ServiceUnavailable, OSError) as exc:
        driver.close()
        raise ServiceError(f"cannot reach Neo4j at {settings.uri}: {exc}") from exc
    return driver


def _batches(rows: list[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def push(
    tables: KGTables, settings: Neo4jSettings, *, replace: bool = False, batch_size: int = BATCH
) -> dict[str, int]:
    """Load `tables` into Neo4j with MERGE in UNWIND batches (managed write transactions).

    Idempotent: a re-run converges to the same graph. `replace` first deletes the medsyn graph there.
    The (:MedsynKG) marker is removed at the start and written last, so a cut-off load never looks whole.
    """
    driver = connect(settings)
    db = settings.database
    try:
        for statement in CONSTRAINTS:
            driver.execute_query(statement, database_=db)
        driver.execute_query("MATCH (m:MedsynKG) DETACH DELETE m", database_=db)
        if replace:
            with driver.session(database=db) as session:  # CALL ... IN TRANSACTIONS needs auto-commit
                for label in ("Disease", "Symptom", "Drug"):
                    query = f"MATCH (n:{label}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS"
                    session.run(query).consume()
        data = {name: table.to_pylist() for name, table in tables.items()}
        data["hierarchy"] = [r for r in data["diseases"] if r["parent"]]
        order = ("diseases", "hierarchy", "symptoms", "drugs", "has_symptom", "treated_with")
        with driver.session(database=db) as session:
            for name in order:
                for rows in _batches(data[name], batch_size):
                    session.execute_write(_run, LOAD[name], rows)
            counts = tables.counts()
            session.execute_write(
                _run,
                """MERGE (m:MedsynKG {id: 'medsyn'}) SET m.format = $format, m.meta = $meta,
                   m.counts = $counts""",
                None,
                format=FORMAT_VERSION,
                meta=json.dumps(tables.meta, ensure_ascii=False),
                counts=json.dumps(counts),
            )
        return counts
    finally:
        driver.close()


def _run(tx: Any, query: str, rows: list[dict[str, Any]] | None, **params: Any) -> None:
    if rows is not None:
        params["rows"] = rows
    tx.run(query, **params).consume()


class Neo4jStore(KGStore):
    """A KG held in Neo4j; `tables()` fetches each table with one query, once per process."""

    def __init__(self, uri: str | None = None, **overrides: Any) -> None:
        self.settings = Neo4jSettings.from_env(uri, **overrides)
        self._tables: KGTables | None = None

    def location(self) -> str:
        return self.settings.uri + (f" (database {self.settings.database})" if self.settings.database else "")

    def tables(self) -> KGTables:
        if self._tables is None:
            self._tables = fetch(self.settings)
        return self._tables


def fetch(settings: Neo4jSettings) -> KGTables:
    """Read the whole KG from Neo4j: five queries, whole tables."""
    driver = connect(settings)
    db = settings.database
    try:
        marker, _, _ = driver.execute_query("MATCH (m:MedsynKG {id: 'medsyn'}) RETURN m", database_=db)
        if not marker:
            raise KGNotFoundError(
                f"Neo4j at {settings.uri} (database {db or 'default'}) holds no complete medsyn KG; "
                f"load one with `medsyn kg push KGDIR --neo4j {settings.uri}`"
            )
        node = marker[0]["m"]
        found = marker[0]["m"].get("format")
        if found != FORMAT_VERSION:
            raise KGNotFoundError(
                f"the medsyn KG in {settings.uri} has format {found!r}; expected {FORMAT_VERSION}"
            )

        def read(query: str) -> list[dict[str, Any]]:
            return [r.data() for r in driver.execute_query(query, database_=db, routing_="r").records]

        tables = {name: pa.Table.from_pylist(read(READ[name]), schema=SCHEMAS[name]) for name in SCHEMAS}
        node = marker[0]["m"]
        return KGTables(**tables, meta=json.loads(node.get("meta") or "{}"))
    finally:
        driver.close()
