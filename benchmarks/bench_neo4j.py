"""Load the full MKG into Neo4j and read every code's symptoms back, against the embedded store.

    .venv/bin/python benchmarks/bench_neo4j.py [--data-dir ../shared/data]

Starts its own Neo4j server (scripts/neo4j/server.py) unless NEO4J_URI and NEO4J_PASSWORD are set.
Both stores are measured in the same run. The embedded store is the baseline and the printed ratio is
baseline / measured, as in every benchmark here (1.0: as fast; 0.01: Neo4j takes 100x as long).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

from medsyn.kg import EmbeddedStore, write_kg
from medsyn.kg.build import build_kg
from medsyn.kg.neo4j_store import Neo4jSettings, Neo4jStore, push
from medsyn.paths import require_data_dir

ROOT = Path(__file__).resolve().parents[1]


def server_helper():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("neo4j_server", ROOT / "scripts" / "neo4j" / "server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_all(store_factory) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    store = store_factory()
    edges = sum(len(store.symptoms(code)) for code in store.codes())
    return time.perf_counter() - start, edges


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    tables, _ = build_kg(require_data_dir(args.data_dir))
    run = None
    if os.environ.get("NEO4J_URI") and os.environ.get("NEO4J_PASSWORD"):
        settings = Neo4jSettings.from_env()
    else:
        helper = server_helper()
        run = Path(tempfile.mkdtemp(prefix="neo4j-bench-", dir="/tmp"))
        env = helper.start(run, password="bench-password")
        settings = Neo4jSettings(uri=env["NEO4J_URI"], password="bench-password")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            kg_dir = write_kg(tables, Path(tmp) / "kg")
            embedded_load = time.perf_counter() - start
            embedded_read, edges = read_all(lambda: EmbeddedStore(kg_dir))
            start = time.perf_counter()
            push(tables, settings, replace=True)
            neo_load = time.perf_counter() - start
            neo_read, neo_edges = read_all(lambda: Neo4jStore(settings.uri, password=settings.password))
        assert neo_edges == edges
        print(f"MKG: {tables.counts()}")
        for what, emb, neo in (("load", embedded_load, neo_load), ("read", embedded_read, neo_read)):
            print(f"{what}: embedded {emb:7.2f} s | Neo4j {neo:7.2f} s | embedded / Neo4j {emb / neo:8.4f}")
        print(f"read = open the store + symptoms of all {tables.diseases.num_rows} codes ({edges} edges)")
    finally:
        if run is not None:
            server_helper().stop(run)


if __name__ == "__main__":
    main()
