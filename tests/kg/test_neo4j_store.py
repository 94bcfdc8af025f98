"""The Neo4j store against a real Neo4j server: the same contract as the embedded store, and faults."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from medsyn.cli.main import main
from medsyn.errors import KGNotFoundError, MedsynError
from medsyn.kg import EmbeddedStore, KGStore, MemoryStore, write_kg
from medsyn.kg.demo import demo_tables
from medsyn.kg.model import KGTables
from medsyn.kg.neo4j_store import Neo4jSettings, Neo4jStore, connect, fetch, push
from medsyn.sampling import PlanConfig, build_planner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(neo4j_env: dict[str, str]) -> Neo4jSettings:
    return Neo4jSettings(uri=neo4j_env["NEO4J_URI"], user="neo4j", password=neo4j_env["NEO4J_PASSWORD"])


def _graph_counts(settings: Neo4jSettings) -> dict[str, int]:
    driver = connect(settings)
    try:
        out = {}
        for label in ("Disease", "Symptom", "Drug"):
            out[label] = driver.execute_query(f"MATCH (n:{label}) RETURN count(n) AS c").records[0]["c"]
        for rel in ("HAS_SYMPTOM", "TREATED_WITH", "CHILD_OF"):
            out[rel] = driver.execute_query(f"MATCH ()-[r:{rel}]->() RETURN count(r) AS c").records[0]["c"]
        return out
    finally:
        driver.close()


def _assert_same_store(a: KGStore, b: KGStore) -> None:
    for name, table in a.tables().sorted().items():
        assert table.equals(getattr(b.tables().sorted(), name)), name
    assert a.codes() == b.codes()
    for code in a.codes():
        assert a.disease(code) == b.disease(code), code
        assert a.children(code) == b.children(code), code
        assert a.symptoms(code, include_descendants=True) == b.symptoms(code, include_descendants=True), code
        assert a.drugs(code) == b.drugs(code), code
    assert a.find("диабет") == b.find("диабет")


@pytest.mark.parametrize("which", ["fixture", "demo"])
def test_contract_same_answers_as_embedded(
    which: str, settings: Neo4jSettings, fixture_tables: KGTables, tmp_path: Path
) -> None:
    tables = fixture_tables if which == "fixture" else demo_tables()
    embedded = EmbeddedStore(write_kg(tables, tmp_path / "kg"))
    push(tables, settings, replace=True)
    neo = Neo4jStore(settings.uri, password=settings.password)
    _assert_same_store(embedded, neo)
    # Symptom weights, sources and the hierarchy survive the trip.
    if which == "fixture":
        assert [(e.name, e.weight, e.source, e.evidence) for e in neo.symptoms("E11.6")] == [
            ("polyuria", 7.5, "disease_ontology", "inherited from DOID:9351"),
            ("thirst", 1.0, "disease_ontology", "inherited from DOID:9351"),
        ]
        assert neo.disease("E11.6").parent == "E11" and neo.disease("E11.6").chapter == "IV"


def test_push_is_idempotent_and_pull_round_trips(settings: Neo4jSettings, tmp_path: Path) -> None:
    tables = demo_tables()
    push(tables, settings, replace=True)
    first = _graph_counts(settings)
    push(tables, settings)
    assert _graph_counts(settings) == first
    assert (
        first["Disease"] == tables.diseases.num_rows and first["HAS_SYMPTOM"] == tables.has_symptom.num_rows
    )
    assert first["CHILD_OF"] == sum(p is not None for p in tables.diseases["parent"].to_pylist())
    pulled = fetch(settings)
    for name, table in pulled.sorted().items():
        assert table.equals(getattr(tables.sorted(), name)), name


def test_generation_plans_the_same_notes_from_neo4j(settings: Neo4jSettings) -> None:
    push(demo_tables(), settings, replace=True)
    config = PlanConfig(codes=["J06", "M54", "I10"], n=60, allocation="uniform", seed=11)
    from_memory = build_planner(MemoryStore(demo_tables()), None, config)
    from_neo4j = build_planner(Neo4jStore(settings.uri, password=settings.password), None, config)
    assert from_memory.fingerprint == from_neo4j.fingerprint
    assert from_memory.plan(np.arange(60)) == from_neo4j.plan(np.arange(60))


def test_cli_push_pull_stats_show(
    settings: Neo4jSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", settings.password or "")
    assert main(["kg", "push", "demo", "--neo4j", settings.uri, "--replace"]) == 0
    assert main(["kg", "pull", "--neo4j", settings.uri, "--out", str(tmp_path / "kg")]) == 0
    assert EmbeddedStore(tmp_path / "kg").tables().counts() == demo_tables().counts()
    capsys.readouterr()
    assert main(["kg", "stats", "--kg", settings.uri, "--codes", "M54", "--json"]) == 0
    assert '"title_ru": "Дорсалгия"' in capsys.readouterr().out
    assert main(["kg", "show", "M55", "--kg", settings.uri]) == 2
    assert "close codes: M54" in capsys.readouterr().err
    assert main(["kg", "pull", "--neo4j", settings.uri, "--out", str(tmp_path / "kg")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["kg", "push", "demo", "--neo4j", settings.uri, "--retry-seconds", "-1"]) == 2
    assert "--retry-seconds must be >= 0 (0: no retry), got -1" in capsys.readouterr().err


def test_server_down_and_wrong_credentials(settings: Neo4jSettings) -> None:
    start = time.perf_counter()
    with pytest.raises(MedsynError, match=r"cannot reach Neo4j at bolt://127\.0\.0\.1:9"):
        Neo4jStore("bolt://127.0.0.1:9", password="x").tables()
    assert time.perf_counter() - start < 30
    with pytest.raises(MedsynError, match=r"refused the credentials of user 'neo4j'"):
        Neo4jStore(settings.uri, password="wrong-password").tables()
    with pytest.raises(MedsynError, match="is not a Neo4j URI"):
        Neo4jSettings.from_env("http://127.0.0.1:7474")


def test_restart_mid_load_converges_and_empty_database_is_explained(
    neo4j_server_helper, real_kg_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """A private server: empty at first (no schema), then killed and restarted in the middle of a load."""
    run = Path(tempfile.mkdtemp(prefix="neo4j-r-", dir="/tmp"))
    env = neo4j_server_helper.start(run, password="restart-pw", lean=True)
    port = int(env["NEO4J_URI"].rsplit(":", 1)[1])
    # The cut-off load gives up 1 s after the crash (the driver retries for 30 s by default).
    settings = Neo4jSettings(uri=env["NEO4J_URI"], password="restart-pw", retry_seconds=1.0)
    try:
        with pytest.raises(
            KGNotFoundError, match="holds no complete medsyn KG; load one with `medsyn kg push"
        ):
            Neo4jStore(settings.uri, password="restart-pw").tables()
        tables = EmbeddedStore(real_kg_dir).tables()
        errors: list[BaseException] = []

        def load() -> None:
            try:
                push(tables, settings, batch_size=500)
            except BaseException as exc:  # noqa: BLE001 - the restart is expected to break the load
                errors.append(exc)

        loader = threading.Thread(target=load)
        loader.start()
        deadline = time.time() + 120
        while time.time() < deadline and _graph_counts(settings)["HAS_SYMPTOM"] == 0:
            time.sleep(0.5)
        neo4j_server_helper.stop(run, kill=True)  # a crash mid-load
        loader.join(timeout=120)
        assert errors, "the load should have been cut off by the restart"
        neo4j_server_helper.start(run, port=port, password="restart-pw", lean=True)
        with pytest.raises(KGNotFoundError, match="holds no complete medsyn KG"):
            fetch(settings)  # the cut-off load never looks complete
        push(tables, settings)
        counts = _graph_counts(settings)
        assert counts["Disease"] == tables.diseases.num_rows
        assert counts["Symptom"] == tables.symptoms.num_rows and counts["Drug"] == tables.drugs.num_rows
        assert counts["HAS_SYMPTOM"] == tables.has_symptom.num_rows  # no duplicates
        assert counts["TREATED_WITH"] == tables.treated_with.num_rows
        for name, table in fetch(settings).sorted().items():
            assert table.equals(getattr(tables.sorted(), name)), name
    finally:
        neo4j_server_helper.stop(run, kill=True)
        shutil.rmtree(run, ignore_errors=True)
