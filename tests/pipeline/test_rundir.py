"""The run directory's guarantees on a local directory and on a real S3-compatible server: one copy of
each row, unreadable shards quarantined (never deleted), one live run per directory."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from medsyn.errors import MedsynError
from medsyn.pipeline.rundir import LEASE_FILE, RunDir, shard_name, write_shard

INFO = {"fingerprint": "f" * 40, "total": 10, "generation": {"model": "m"}}


@pytest.fixture(params=["local", "s3"])
def run(request, tmp_path: Path, s3_server) -> RunDir:  # type: ignore[no-untyped-def]
    return RunDir(str(tmp_path / "run") if request.param == "local" else f"{s3_server()}/run")


def _shard(rows: list[int], tag: str) -> pa.Table:
    return pa.table({"row": pa.array(rows, pa.int64()), "text": [f"{tag}{r}" for r in rows],
                     "error": pa.nulls(len(rows), pa.string())})  # fmt: skip


def test_rows_written_twice_are_kept_once_and_counted(run: RunDir) -> None:
    todo = run.open(INFO)
    assert list(todo) == list(range(10))
    write_shard(run.shards, _shard([0, 1, 2, 3], "a"))
    write_shard(run.shards, _shard([4, 5, 6, 7, 8, 9], "a"))
    # A re-executed block: the same rows again in another split (one shard fully, one partly duplicate).
    write_shard(run.shards, _shard([2, 3], "b"))
    write_shard(run.shards, _shard([7, 8, 9, 1], "c"))
    assert len(run.open(INFO)) == 0
    assert run.read(["text"]).num_rows == 10  # readers see one copy before the run is finished
    summary = run.finish(10)
    assert (summary["notes"], summary["missing"], summary["duplicates"]) == (10, 0, 0)
    assert summary["duplicates_removed"] == 6 and run.complete(summary)
    table = run.read(["row", "text"]).sort_by("row")
    assert table["row"].to_pylist() == list(range(10))
    # The copy kept is the one in the shard whose name sorts first: deterministic.
    first = sorted([shard_name([0, 1, 2, 3]), shard_name([2, 3]), shard_name([1, 7, 8, 9])])
    expected_1 = {shard_name([0, 1, 2, 3]): "a1", shard_name([1, 7, 8, 9]): "c1"}[
        min(n for n in first if n != shard_name([2, 3]))
    ]
    assert table["text"][1].as_py() == expected_1
    assert sum(t.num_rows for _, t in run.tables(["row"])) == 10  # the extra copies are gone
    assert run.finish(10)["duplicates_removed"] == 0


def test_an_unreadable_shard_is_quarantined_reported_and_its_rows_redone(run: RunDir) -> None:
    run.open(INFO)
    write_shard(run.shards, _shard(list(range(6)), "a"))
    broken = run.shards.join(shard_name([6, 7, 8, 9]))
    broken.write_bytes(b"PAR1 this is not parquet")
    todo = run.open(INFO)
    assert list(todo) == [6, 7, 8, 9]
    assert run.quarantined == [broken.name] and not broken.exists()
    assert run.out.join("quarantine", broken.name).read_bytes() == b"PAR1 this is not parquet"
    summary = run.finish(10)
    assert summary["missing"] == 4 and not run.complete(summary)


def test_a_second_live_run_is_refused_until_the_lease_expires(run: RunDir) -> None:
    live = r"in use by a live run .*pid \d+.*use another --out"
    with run.lease(lease_s=60), pytest.raises(MedsynError, match=live), run.lease(lease_s=60):
        pass
    # Released: the next run takes it at once.
    with run.lease(lease_s=60):
        pass
    # A dead owner on another host: refused while its lease is fresh, taken over once it expires.
    holder = {"owner": "x", "host": "elsewhere", "pid": 1, "heartbeat": time.time(), "lease_s": 1.5}
    run.out.join(LEASE_FILE).write_json(holder)
    with pytest.raises(MedsynError, match="host elsewhere"), run.lease():
        pass
    time.sleep(1.6)
    with run.lease() as lease:
        assert run.out.join(LEASE_FILE).read_json()["owner"] == lease.owner["owner"]
    assert not run.out.join(LEASE_FILE).exists()
    # A dead owner on this host (a killed run): its lease is void at once.
    killed = {**holder, "host": socket.gethostname(), "pid": 2**22 + 7, "lease_s": 600}
    run.out.join(LEASE_FILE).write_json(killed)
    with run.lease():
        pass


def test_another_plan_or_foreign_files_are_refused(run: RunDir, tmp_path: Path) -> None:
    run.open(INFO)
    with pytest.raises(MedsynError, match="holds another plan"):
        run.open({**INFO, "fingerprint": "e" * 40})
    with pytest.raises(MedsynError, match=r"other settings \(model: 'm' -> 'n'\)"):
        run.open({**INFO, "generation": {"model": "n"}})
    other = RunDir(run.out.join("elsewhere"))
    other.out.join("notes.txt").write_text("mine")
    with pytest.raises(MedsynError, match="not a medsyn run directory"):
        other.open(INFO)
    assert list(other.open(INFO, overwrite=True)) == list(range(10))
    assert not other.out.join("notes.txt").exists()
    assert json.loads(json.dumps(run.run_info()))["total"] == 10 and np.all(run.done_rows() == [])
