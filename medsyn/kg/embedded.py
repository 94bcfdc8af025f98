"""The embedded KG store: five Parquet files and a manifest in a directory, loaded into memory.

    medsyn kg build --data-dir ../shared/data --out runs/kg
    kg = EmbeddedStore("runs/kg")

A KG directory is complete only when `manifest.json` is there: `write_kg` writes into a temporary
sibling directory and renames it into place, so a crash never leaves a half-built KG that looks whole.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medsyn import __version__
from medsyn.errors import ConfigError, KGNotFoundError
from medsyn.kg.model import SCHEMAS, KGTables
from medsyn.kg.store import KGStore

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def write_kg(tables: KGTables, out: Path | str, *, overwrite: bool = False) -> Path | str:
    """Write `tables` as a KG directory at `out` (a path or a URI), atomically; refuse an existing `out`
    unless `overwrite`. On an object store the manifest is written last: readers need it."""
    from medsyn.storage import Location, atomic_dir, staged_dir

    loc = Location.parse(out, option="--out")
    if not loc.is_local:
        if loc.check().exists() and not overwrite:
            raise ConfigError(f"{loc.uri!r} already exists; pass --overwrite to replace it")
        loc.delete()
        with staged_dir(loc, last=MANIFEST) as local:
            _write_files(tables, local)
        return loc.uri
    out = loc.local_path
    if out.exists() and not overwrite:
        raise ConfigError(f"{str(out)!r} already exists; pass --overwrite to replace it")
    with atomic_dir(out) as tmp:  # a hidden sibling, renamed into place when complete
        _write_files(tables, tmp)
    return out


def read_tables(path: Path | str) -> KGTables:
    """Read a KG directory written by `write_kg` (a local path or any storage URI, like s3://bucket/kg);
    a clear error when it is missing or incomplete."""
    from medsyn.storage import Location

    loc = Location.parse(path, option="--kg")
    manifest_path = loc.join(MANIFEST)
    if not loc.is_dir():
        raise KGNotFoundError(f"KG directory {loc.uri!r} does not exist (build one with `medsyn kg build`)")
    if not manifest_path.is_file():
        raise KGNotFoundError(f"{loc.uri!r} is not a complete KG: it has no {MANIFEST}")
    manifest = manifest_path.read_json()
    if manifest.get("format") != FORMAT_VERSION:
        raise KGNotFoundError(
            f"{loc.uri!r} has KG format {manifest.get('format')!r}; this medsyn reads format {FORMAT_VERSION}"
        )
    tables: dict[str, pa.Table] = {}
    for name, schema in SCHEMAS.items():
        table = loc.join(f"{name}.parquet").read_parquet()
        if not table.schema.equals(schema, check_metadata=False):
            raise KGNotFoundError(f"{loc.uri}/{name}.parquet: schema differs from medsyn's {name} table")
        tables[name] = table
    return KGTables(**tables, meta=dict(manifest.get("meta", {})))


def _write_files(tables: KGTables, directory: Path) -> None:
    for name, table in tables.items():
        pq.write_table(table.cast(SCHEMAS[name]), directory / f"{name}.parquet")
    manifest = {
        "format": FORMAT_VERSION,
        "medsyn_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": tables.counts(),
        "meta": tables.meta,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


class EmbeddedStore(KGStore):
    """A KG directory held in memory (no server)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._tables = read_tables(path)

    def tables(self) -> KGTables:
        return self._tables

    def location(self) -> str:
        return str(self.path)


class MemoryStore(KGStore):
    """A KG held only in memory (the demo KG, tests)."""

    def __init__(self, tables: KGTables, name: str = "memory") -> None:
        self._tables = tables
        self._name = name

    def tables(self) -> KGTables:
        return self._tables

    def location(self) -> str:
        return self._name
