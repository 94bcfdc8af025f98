"""Shared fixtures: the hand-made source files in tests/fixtures/data and the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medsyn.kg import MemoryStore
from medsyn.kg.build import build_kg
from medsyn.kg.model import KGTables
from medsyn.paths import default_data_dir

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "data"

# vLLM's CPU KV cache for the tests' small models and short prompts: 1 GiB (medsyn's default of 4 is for
# real batches of long notes). Setting up the other 3 GiB cost every engine start about 2 CPU-seconds.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


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


@pytest.fixture(scope="session", autouse=True)
def s3_server():  # type: ignore[no-untyped-def]
    """A real S3-compatible HTTP server (moto's server mode, its own process) on 127.0.0.1 for the session.

    Its endpoint and credentials go into the environment first (autouse), so every Ray worker the tests
    start inherits them, as workers on a real cluster read theirs from their node's environment. (In
    its own process, moto's Flask stays out of the test process, where vLLM's kernel registration
    trips over Flask's context proxies.) Yields a function that creates a fresh bucket, returns its URI.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    import uuid

    import pyarrow.fs as pafs

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail("moto's S3 server did not start (is moto[server] installed?)")
            time.sleep(0.2)
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "medsyn-test",
        "AWS_SECRET_ACCESS_KEY": "medsyn-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    admin = pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        allow_bucket_creation=True,
    )

    def bucket() -> str:
        name = f"medsyn-{uuid.uuid4().hex[:12]}"
        admin.create_dir(name)
        return f"s3://{name}"

    try:
        yield bucket
    finally:
        server.terminate()
        server.wait(timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def ray_local():  # type: ignore[no-untyped-def]
    """A real local Ray shared by the tests that need one (8 logical CPUs, as medsyn's local jobs use)."""
    import os
    import shutil

    import ray

    from medsyn.ray_env import local_ray_env

    local_ray_env()
    # Ray Train's controller checks on its workers every 2 s, so a run ends up to 2 s after its loop
    # does (and starts its workers a poll late): 0.2 s saves about 3 s a run (measured, 15 s -> 12 s).
    # The workers inherit this from the Ray started here.
    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.2"
    temp_dir = f"/tmp/ray-medsyn-{os.getpid()}"  # short: Ray's socket paths must fit
    ray.init(num_cpus=8, include_dashboard=False, _temp_dir=temp_dir)
    yield
    ray.shutdown()
    os.environ.pop("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S")
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The packaged default model, converted once into the cache (~1 min the first time on a machine)."""
    from medsyn.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def tiny_model(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (2 layers, hidden 128, head size 64) with the default model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _neo4j_helper():  # type: ignore[no-untyped-def]
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "neo4j" / "server.py"
    spec = importlib.util.spec_from_file_location("medsyn_neo4j_server", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def neo4j_server_helper():  # type: ignore[no-untyped-def]
    return _neo4j_helper()


@pytest.fixture(scope="session")
def neo4j_env(neo4j_server_helper, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real Neo4j server: the one scripts/test.sh started (NEO4J_URI set), else one started here."""
    import os

    if os.environ.get("NEO4J_URI") and os.environ.get("NEO4J_PASSWORD"):
        yield {k: os.environ[k] for k in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD") if k in os.environ}
        return
    import shutil
    import tempfile

    run = Path(tempfile.mkdtemp(prefix="neo4j-", dir="/tmp"))
    env = neo4j_server_helper.start(run, password="medsyn-test", lean=True)
    try:
        yield env
    finally:
        neo4j_server_helper.stop(run)
        shutil.rmtree(run, ignore_errors=True)


# The test tiers. `scripts/test.sh --quick` runs the tests not marked integration: lint-speed checks that
# start no cluster, vLLM, Neo4j or model. A test that takes one of these fixtures starts one of them, so it
# must be marked integration (the full suite, what CI runs); collection stops on one that is not, so that
# no test lands in the quick tier by accident.
HEAVY_FIXTURES = {
    "ray_local",
    "default_model",
    "tiny_model",
    "neo4j_env",
    "neo4j_server_helper",
    "real_data_dir",
    "real_kg_dir",
    "adapter",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = sorted(
        item.nodeid
        for item in items
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
        and not item.get_closest_marker("integration")
    )
    if unmarked:
        raise pytest.UsageError(
            "tests that start a cluster, a model or Neo4j, or read the real data, must be marked "
            f"integration (the full tier): {', '.join(unmarked[:10])}"
            + (" ..." if len(unmarked) > 10 else "")
        )
