"""Shared fixtures: the hand-made source files in tests/fixtures/data and the real data in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsyn.kg import MemoryStore
from medsyn.kg.build import build_kg
from medsyn.kg.model import KGTables
from medsyn.paths import default_data_dir

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(scope="session")
def fixture_data() -> Path:
    return FIXTURE_DATA


@pytest.fixture(scope="session")
def fixture_tables() -> KGTables:
    tables, _ = build_kg(FIXTURE_DATA)
    return tables


@pytest.fixture(scope="session")
def fixture_kg(fixture_tables: KGTables) -> MemoryStore:
    return MemoryStore(fixture_tables, name="fixture")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data (or $MEDSYN_DATA_DIR). Missing data is a failure, not a skip: CI always has it."""
    path = default_data_dir()
    if path is None or not (path / "rumedbench").is_dir():
        pytest.fail("the public data is missing: set MEDSYN_DATA_DIR or provide ../shared/data")
    return path


@pytest.fixture(scope="session")
def real_kg_dir(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MKG, built once per test session with `medsyn kg build`."""
    from medsyn.cli.main import main

    out = tmp_path_factory.mktemp("real") / "kg"
    assert main(["kg", "build", "--data-dir", str(real_data_dir), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The packaged default model, converted once into the cache (~1 min the first time on a machine)."""
    from medsyn.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL)
