"""The generation job on a 2-node Ray cluster on this machine (ray.cluster_utils.Cluster, every address
127.0.0.1). The head has no CPUs, so every planning, scoring and writing task runs on the second node.
That node runs in a mount namespace of its own with a tmpfs over `private/`: a directory the head
does not share, as a node-local disk on a separate machine would be."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsyn.pipeline.rundir import RunDir, shard_name
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(ray_local, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ray.cluster_utils import Cluster

    base = tmp_path_factory.mktemp("nodes")
    (base / "shared").mkdir()
    (base / "private").mkdir()
    temp_dir = tempfile.mkdtemp(prefix="rmn-", dir="/tmp")  # short: Ray's socket paths must fit
    with pytest.MonkeyPatch.context() as mp:
        # Cluster records its address as the machine's "current cluster" (<RAY_TMPDIR>/ray/
        # ray_current_cluster; /tmp/ray, which a fresh machine lacks, by default): keep it in the test's
        # own directory, where it neither fails nor outlives the test.
        os.makedirs(os.path.join(temp_dir, "ray"))
        mp.setenv("RAY_TMPDIR", temp_dir)
        head = Cluster(
            initialize_head=True,
            connect=False,
            head_node_args=dict(
                num_cpus=0,
                node_ip_address="127.0.0.1",
                gcs_server_port=_port(),
                include_dashboard=False,
                dashboard_agent_listen_port=_port(),
                temp_dir=temp_dir,
            ),
        )
        env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep 127.0.0.1 as the address
        launch = (
            f"mount -t tmpfs medsyn-node2 {base / 'private'} && "
            f"exec {sys.executable} {ROOT / 'tests/ray_node.py'} --address {head.address} --num-cpus 2 "
            f"--resources '{{\"node2\": 1}}' --agent-port {_port()}"
        )
        node2 = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", launch],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert _joined(head.address, env), "the second node did not join within 120 s"
            assert node2.poll() is None, "the second node stopped (unshare and mount need root)"
            yield {
                "address": head.address,
                "env": env,
                "shared": base / "shared",
                "private": base / "private",
            }
        finally:
            os.killpg(node2.pid, signal.SIGTERM)
            node2.wait(timeout=60)
            head.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


def _joined(address: str, env: dict[str, str]) -> bool:
    """Two nodes alive, as a driver of that cluster sees it (waits up to 120 s)."""
    probe = (
        "import time, ray\n"
        f"ray.init(address={address!r})\n"
        "deadline = time.time() + 120\n"
        "while sum(n['Alive'] for n in ray.nodes()) < 2 and time.time() < deadline:\n"
        "    time.sleep(1)\n"
        "print('nodes', sum(n['Alive'] for n in ray.nodes()))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180)
    return "nodes 2" in out.stdout


def _generate(cluster: dict, out: Path, base_url: str) -> subprocess.CompletedProcess[str]:  # type: ignore[type-arg]
    args = [
        "--codes", "J06,M54,I10", "--n", "40", "--out", str(out), "--engine", "openai",
        "--model", "fake-model", "--base-url", base_url, "--batch-size", "4", "--shard-rows", "4",
        "--seed", "3", "--temperature", "0", "--max-tokens", "8", "--no-quality",
    ]  # fmt: skip
    env = {**cluster["env"], "RAY_ADDRESS": cluster["address"]}
    return subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "generate.py"), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_second_node_writes_the_shared_run_which_heals_duplicates_and_bad_shards(cluster) -> None:  # type: ignore[no-untyped-def]
    out = cluster["shared"] / "notes"
    with FakeOpenAI(delay=0.01) as server:
        first = _generate(cluster, out, server.base_url)
        assert first.returncode == 0, first.stderr[-3000:]
        run = RunDir(out)
        assert run.summary()["notes"] == 40 and sorted(run.done_rows()) == list(range(40))

        # A re-executed block left rows 0-5 twice; one shard was cut off and cannot be read.
        shards = sorted(out.joinpath("shards").glob("part-*.parquet"))
        twice = pa.concat_tables([pq.read_table(p) for p in shards[:2]]).slice(0, 6)
        pq.write_table(twice, out / "shards" / shard_name(twice["row"].to_numpy()))
        broken = shards[-1]
        lost = pq.read_table(broken, columns=["row"])["row"].to_pylist()
        broken.write_bytes(b"PAR1 cut off")
        (out / "summary.json").unlink()
        requests = server.requests

        second = _generate(cluster, out, server.base_url)
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.requests - requests == len(lost)  # the quarantined shard's rows, generated again
    summary = RunDir(out).summary()
    assert (summary["notes"], summary["missing"], summary["duplicates"]) == (40, 0, 0)
    assert summary["duplicates_removed"] == 6 and summary["quarantined"] == [broken.name]
    assert (out / "quarantine" / broken.name).read_bytes() == b"PAR1 cut off"
    table = pq.read_table(out / "shards", columns=["row"])
    assert sorted(table["row"].to_pylist()) == list(range(40))  # exactly once


def test_an_output_the_nodes_do_not_share_is_refused(cluster) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as server:
        result = _generate(cluster, cluster["private"] / "notes", server.base_url)
    assert result.returncode != 0
    assert "is a local directory that node(s) 127.0.0.1" in result.stderr and "s3://" in result.stderr
    assert server.requests == 0  # refused before any note was generated
