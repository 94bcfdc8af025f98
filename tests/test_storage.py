"""The storage layer on a local directory and on a real S3-compatible server (moto, 127.0.0.1)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from medsyn.errors import MedsynError
from medsyn.storage import Location


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path: Path, s3_server) -> Location:  # type: ignore[no-untyped-def]
    uri = str(tmp_path / "store") if request.param == "local" else f"{s3_server()}/store"
    return Location.parse(uri, option="--out").check()


def test_writes_read_back_and_listing_skips_hidden_names(root: Location) -> None:
    root.join("run.json").write_json({"a": "ж", "n": 1})
    assert root.join("run.json").read_json() == {"a": "ж", "n": 1}
    table = pa.table({"row": [2, 1], "text": ["b", "a"]})
    root.join("shards", "part-1.parquet").write_parquet(table)
    root.join("shards", "part-2.parquet").write_parquet(table.slice(0, 1))
    root.join("shards", ".part-3.parquet.abc.tmp").write_bytes(b"half a shard")
    names = [f.name for f in root.join("shards").files(suffix=".parquet")]
    assert names == ["part-1.parquet", "part-2.parquet"]
    assert root.join("shards", "part-1.parquet").read_parquet(columns=["row"]).column_names == ["row"]
    assert root.join("missing").files() == [] and not root.join("missing").exists()
    with root.join("shards").local_copy() as local:
        assert sorted(p.name for p in local.glob("part-*.parquet")) == ["part-1.parquet", "part-2.parquet"]
    root.join("shards", "part-2.parquet").move(root.join("quarantine", "part-2.parquet"))
    assert root.join("quarantine", "part-2.parquet").is_file()
    assert not root.join("shards", "part-2.parquet").exists()
    root.join("shards").delete()
    assert not root.join("shards", "part-1.parquet").exists()


def test_a_location_reopens_from_its_uri_after_pickling(root: Location) -> None:
    root.join("x.json").write_json([1])
    again = pickle.loads(pickle.dumps(root.join("x.json")))
    assert again == root.join("x.json") and again.option == "--out" and again.read_json() == [1]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    f = Location.parse(tmp_path / "summary.json")
    f.write_json({"v": 1})
    with pytest.raises(AttributeError):
        f.write_parquet("not a table")  # type: ignore[arg-type]
    assert f.read_json() == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_bad_locations_fail_at_once_naming_the_option_and_uri(s3_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MedsynError, match=r"--kg 'nosuch://x/y': no filesystem for scheme 'nosuch'.*s3://"):
        Location.parse("nosuch://x/y", option="--kg")
    with pytest.raises(MedsynError, match=r"--out 's3://no-such-bucket/run': bucket 'no-such-bucket' does"):
        Location.parse("s3://no-such-bucket/run", option="--out").check()
    unreachable = "s3://medsyn/run?endpoint_override=127.0.0.1:1&scheme=http"
    with pytest.raises(MedsynError, match=r"--out 's3://medsyn/run\?.*': cannot reach it"):
        Location.parse(unreachable, option="--out").check()
    with pytest.raises(MedsynError, match=r"--notes '.*nothing.jsonl' does not exist"):
        Location.parse(tmp_path / "nothing.jsonl", option="--notes").check(must_exist=True)
