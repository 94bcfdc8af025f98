"""Read the notes a generation run wrote (its Parquet shards) for training experiments.

syn = read_synthetic("runs/notes")     # a run directory, a directory of Parquet files, or one file
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from medsyn.errors import DataError
from medsyn.icd import category
from medsyn.pipeline.quota import is_quota_run, round_dirs
from medsyn.pipeline.rundir import RUN_FILE, SHARDS, RunDir
from medsyn.pipeline.stages import DRY_RUN
from medsyn.storage import Location

COLUMNS = (
    "note_id",
    "code",
    "text",
    "symptoms",
    "example_id",
    "symptom_recall",
    "example_similarity",
    "example_containment",
    "copied_example",
    "opening",
    "opening_id",
    "error",
    "engine",
)


def _tables(loc: Location) -> list[pa.Table]:
    """A run directory's rows (one copy each, through RunDir), else a directory's or one file's Parquet."""
    if loc.join(RUN_FILE).is_file():
        return [RunDir(loc, option="--synthetic").read([c for c in COLUMNS if c != "row"])]
    if is_quota_run(loc):  # every round's notes, in order
        return [t for d in round_dirs(loc) for t in _tables(d)]
    if loc.is_file():
        return [loc.read_parquet()]
    shards = loc.join(SHARDS) if loc.join(SHARDS).is_dir() else loc
    files = shards.files(suffix=".parquet")
    if not files:
        raise DataError(f"synthetic set {loc.uri!r} holds no Parquet shards (expected {shards}/*.parquet)")
    return [f.read_parquet() for f in files]


def read_synthetic(path: Path | str, *, name: str | None = None, allow_dry_run: bool = False) -> pa.Table:
    """Rows of one synthetic set (a path or a URI) with the columns the experiments use, codes cut to 3
    characters. A set written by engine dry-run (placeholder texts) is refused unless `allow_dry_run`."""
    loc = Location.parse(path, option="--synthetic")
    if not loc.exists():
        raise DataError(f"synthetic set {loc.uri!r} does not exist")
    tables = []
    for t in _tables(loc):
        missing = [c for c in ("note_id", "code", "text") if c not in t.column_names]
        if missing:
            raise DataError(f"{loc.uri}: not a medsyn notes set, missing columns {missing}")
        cols = {}
        for c in COLUMNS:
            if c in t.column_names:
                cols[c] = t[c]
            else:
                cols[c] = pa.nulls(t.num_rows, pa.list_(pa.string()) if c == "symptoms" else None)
        tables.append(pa.table(cols))
    table = pa.concat_tables(tables, promote_options="permissive")
    codes = [category(c) if c else c for c in table["code"].to_pylist()]
    table = table.set_column(table.column_names.index("code"), "code", pa.array(codes, pa.string()))
    set_name = name or loc.name
    table = table.append_column("set", pa.array([set_name] * table.num_rows, pa.string()))
    dry = pc.sum(pc.equal(table["engine"], DRY_RUN)).as_py() or 0
    if dry and not allow_dry_run:
        raise DataError(
            f"synthetic set {loc.uri!r} holds {dry} notes written by engine {DRY_RUN!r} (placeholder texts "
            "for capacity planning, not notes): generate with a model, or pass --allow-dry-run to use them"
        )
    ids = table["note_id"]
    if pc.count_distinct(ids).as_py() != table.num_rows:
        raise DataError(f"synthetic set {loc.uri!r} has duplicate note ids")
    return table
