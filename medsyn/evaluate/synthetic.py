"""Read the notes a generation run wrote (its Parquet shards) for training experiments.

syn = read_synthetic("runs/notes")     # a run directory, a directory of Parquet files, or one file
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medsyn.errors import MedsynError
from medsyn.icd import category

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
    "error",
)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    shards = path / "shards" if (path / "shards").is_dir() else path
    files = sorted(p for p in shards.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        raise MedsynError(
            f"synthetic set {str(path)!r} holds no Parquet shards (expected {shards}/*.parquet)"
        )
    return files


def read_synthetic(path: Path | str, *, name: str | None = None) -> pa.Table:
    """Rows of one synthetic set with the columns the experiments use, codes cut to 3 characters."""
    path = Path(path)
    if not path.exists():
        raise MedsynError(f"synthetic set {str(path)!r} does not exist")
    tables = []
    for file in _files(path):
        t = pq.read_table(file)
        missing = [c for c in ("note_id", "code", "text") if c not in t.column_names]
        if missing:
            raise MedsynError(f"{file}: not a medsyn notes shard, missing columns {missing}")
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
    set_name = name or path.name
    table = table.append_column("set", pa.array([set_name] * table.num_rows, pa.string()))
    ids = table["note_id"]
    if pc.count_distinct(ids).as_py() != table.num_rows:
        raise MedsynError(f"synthetic set {str(path)!r} has duplicate note ids")
    return table
