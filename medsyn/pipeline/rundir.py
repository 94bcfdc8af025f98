"""The run directory of a generation job: its layout, its lease, its shards, resume and completeness.

    run = RunDir("s3://bucket/runs/notes")         # or a local path every node sees
    with run.lease():                               # one live run per directory
        todo = run.open(fingerprint, total, info)   # rows still to generate
        ... workers call write_shard(run.shards, table) ...
        summary = run.finish(total, extra)          # one copy of each row, then summary.json
    notes = run.read(columns=["code", "text"])      # any reader: one copy per row, only those columns

Layout: `run.json` (the plan's fingerprint and settings, written first), `shards/part-*.parquet` (one row
per planned note, failures included), `quarantine/` (shards that could not be read), `lease.json` (the
live run's lease) and `summary.json` (written last, when every planned row is there exactly once).

Guarantees, on local or shared filesystems and object stores alike:
- a shard is written atomically (temporary name + rename, or a single PUT) under a name derived from its
  rows, so a retried block replaces its own shard;
- a row written twice (a block re-executed after a lost node, or a killed run's last writes) is kept
  once: the copy in the shard that sorts first; `finish` rewrites the other shards without it and counts
  it in the summary (`duplicates_removed`); readers apply the same rule meanwhile;
- a shard that cannot be read after retries is moved to `quarantine/` and reported, never deleted; its
  rows count as missing and are generated again;
- the lease (owner, host, pid, heartbeat every `lease_s / 4`) refuses a second live run; a dead owner's
  lease expires after `lease_s` (at once when the owner ran on the same host) and the next run takes
  over. Object stores have no compare-and-swap:
  two runs started within the same second could both take it; the heartbeat check catches the loser
  at its next beat.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from medsyn.errors import ConfigError, DataError
from medsyn.storage import Location

RUN_FILE, SUMMARY_FILE, SHARDS, QUARANTINE, LEASE_FILE = (
    "run.json",
    "summary.json",
    "shards",
    "quarantine",
    "lease.json",
)
READ_ATTEMPTS = 3
LEASE_S = 120.0


def shard_name(rows: list[int] | np.ndarray) -> str:
    """part-<first row>-<hash of the rows>.parquet: the same rows always get the same name."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    digest = hashlib.sha1(rows.tobytes()).hexdigest()[:12]
    return f"part-{int(rows[0]):09d}-{digest}.parquet"


def write_shard(shards: Location, table: pa.Table) -> str:
    """Write one shard of rows (atomically, named by its rows); returns its name."""
    name = shard_name(table["row"].to_numpy())
    shards.join(name).write_parquet(table)
    return name


class _Seen:
    """Row indices seen so far, as a growing bit mask (rows are 0..total-1): O(rows) in all."""

    def __init__(self) -> None:
        self.mask = np.zeros(0, dtype=bool)

    def add(self, rows: np.ndarray) -> np.ndarray:
        """Mark `rows` seen; returns which of them were seen before (earlier or within `rows`)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and rows.max() >= len(self.mask):
            grown = np.zeros(max(int(rows.max()) + 1, 2 * len(self.mask)), dtype=bool)
            grown[: len(self.mask)] = self.mask
            self.mask = grown
        before = self.mask[rows].copy()
        _, first = np.unique(rows, return_index=True)
        repeated = np.ones(len(rows), dtype=bool)
        repeated[first] = False
        self.mask[rows] = True
        return before | repeated


class RunDir:
    """A generation run directory on any storage `Location`."""

    def __init__(self, out: Location | str, *, option: str = "--out") -> None:
        self.out = Location.parse(out, option=option)
        self.shards = self.out.join(SHARDS)
        self.quarantined: list[str] = []

    def __repr__(self) -> str:
        return f"RunDir({self.out.uri!r})"

    # -- the run's identity -------------------------------------------------------------------------
    def run_info(self) -> dict[str, Any] | None:
        run_file = self.out.join(RUN_FILE)
        return run_file.read_json() if run_file.is_file() else None

    def summary(self) -> dict[str, Any] | None:
        f = self.out.join(SUMMARY_FILE)
        return f.read_json() if f.is_file() else None

    def create(self, info: dict[str, Any], *, overwrite: bool = False) -> None:
        """Start a run here, or check that `info` (fingerprint and settings) matches the run it continues."""
        if overwrite:  # everything but the lease this run holds
            for entry in self.out.children():
                if entry.name != LEASE_FILE:
                    entry.delete()
        run = self.run_info()
        if run is not None:
            if run["fingerprint"] != info["fingerprint"]:
                raise ConfigError(
                    f"{self.out} holds another plan (fingerprint {run['fingerprint'][:12]}, this one "
                    f"{info['fingerprint'][:12]}): use another --out, or --overwrite to replace it"
                )
            changed = {
                k: (run["generation"].get(k), v)
                for k, v in info["generation"].items()
                if run["generation"].get(k) != v
            }
            if changed:
                detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
                raise ConfigError(
                    f"{self.out} was generated with other settings ({detail}); use another --out or "
                    "--overwrite"
                )
            return
        if any(entry.name != LEASE_FILE for entry in self.out.children()):
            raise ConfigError(
                f"{self.out} exists and is not a medsyn run directory; use another --out or --overwrite"
            )
        self.out.mkdir()
        self.out.join(RUN_FILE).write_json(info)

    # -- shards -------------------------------------------------------------------------------------
    def _read(self, shard: Location, columns: list[str] | None) -> pa.Table | None:
        """A shard's columns (those it has); None, and the shard quarantined, when it stays unreadable."""
        for attempt in range(READ_ATTEMPTS):
            try:
                if columns is not None:
                    names = pq.read_schema(shard.path, filesystem=shard.fs).names
                    columns = [c for c in columns if c in names]
                return shard.read_parquet(columns=columns)
            except (OSError, pa.ArrowException):
                if not shard.exists():
                    return None  # replaced or removed meanwhile
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(0.2 * 2**attempt)
        shard.move(self.out.join(QUARANTINE, shard.name))
        self.quarantined.append(shard.name)
        return None

    def tables(self, columns: list[str]) -> Iterator[tuple[str, pa.Table]]:
        """(shard name, its `columns`) for every readable shard, in name order."""
        for shard in self.shards.files(prefix="part-", suffix=".parquet"):
            table = self._read(shard, columns)
            if table is not None:
                yield shard.name, table

    def done_rows(self) -> np.ndarray:
        """Row indices already written (unreadable shards quarantined first)."""
        rows = [t["row"].to_numpy() for _, t in self.tables(["row"])]
        return np.unique(np.concatenate(rows)) if rows else np.array([], dtype=np.int64)

    def open(self, info: dict[str, Any], *, overwrite: bool = False) -> np.ndarray:
        """Create or resume the run; returns the rows of the plan (0..total-1) still to generate."""
        self.create(info, overwrite=overwrite)
        if self.out.is_local:  # leftovers of writes cut off mid-way (object stores leave none)
            for leftover in self.shards.local_path.glob(".*.tmp") if self.shards.exists() else []:
                leftover.unlink(missing_ok=True)
        return np.setdiff1d(np.arange(info["total"], dtype=np.int64), self.done_rows())

    def deduplicate(self) -> int:
        """Keep one copy of each row (the copy in the shard whose name sorts first); rewrite or remove
        the other shards. Returns the number of row copies removed."""
        seen = _Seen()
        removed = 0
        for name, rows in list(self.tables(["row"])):
            values = rows["row"].to_numpy()
            dup = seen.add(values)
            if dup.any():
                shard = self.shards.join(name)
                if not dup.all():
                    full = shard.read_parquet()
                    write_shard(self.shards, full.filter(pa.array(~dup)))
                shard.delete()
                removed += int(dup.sum())
        return removed

    def finish(self, total: int) -> dict[str, Any]:
        """Deduplicate, then count what the run holds: notes, missing rows, failures, quarantined shards."""
        from collections import Counter

        removed = self.deduplicate()
        parts = [t for _, t in self.tables(["row", "error"])]
        table = (
            pa.concat_tables(parts)
            if parts
            else pa.table({"row": pa.array([], pa.int64()), "error": pa.array([], pa.string())})
        )
        rows = table["row"].to_numpy()
        unique = np.unique(rows)
        errors = [e for e in table["error"].to_pylist() if e]
        return {
            "out": self.out.uri,
            "notes": int(len(unique)),
            "planned": total,
            "missing": int(total - len(unique)),
            "duplicates": int(len(rows) - len(unique)),
            "duplicates_removed": removed,
            "quarantined": sorted(set(self.quarantined)),
            "failed": len(errors),
            "failures_by_reason": dict(Counter(e.split(":", 1)[0].split("(", 1)[0] for e in errors)),
        }

    def complete(self, summary: dict[str, Any]) -> bool:
        return summary["missing"] == 0 and summary["duplicates"] == 0

    def write_summary(self, summary: dict[str, Any]) -> None:
        self.out.join(SUMMARY_FILE).write_json(summary)

    # -- reading back -------------------------------------------------------------------------------
    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The run's rows, one copy of each (the first shard's), reading only `columns` (+ row)."""
        wanted = None if columns is None else list(dict.fromkeys(["row", *columns]))
        parts, seen = [], _Seen()
        for _, table in self.tables(wanted):  # type: ignore[arg-type]
            keep = ~seen.add(table["row"].to_numpy())
            parts.append(table.filter(pa.array(keep)) if not keep.all() else table)
        if not parts:
            raise DataError(f"{self.out}: no notes shards (expected {self.shards}/part-*.parquet)")
        table = pa.concat_tables(parts, promote_options="permissive")
        return table if columns is None or "row" in columns else table.drop(["row"])

    # -- the lease ----------------------------------------------------------------------------------
    @contextmanager
    def lease(self, lease_s: float = LEASE_S) -> Iterator[Lease]:
        """Hold this directory's lease while the block runs (see the module's guarantees)."""
        lease = Lease(self.out.join(LEASE_FILE), lease_s)
        lease.acquire()
        try:
            yield lease
        finally:
            lease.release()


def _dead_here(holder: dict[str, Any]) -> bool:
    """The holder ran on this host and its process is gone (a killed run): its lease is void now."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


class Lease:
    """A lease file with owner and heartbeat; a beat thread keeps it fresh while held."""

    def __init__(self, file: Location, lease_s: float) -> None:
        self.file, self.lease_s = file, lease_s
        self.owner = {"owner": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _holder(self) -> dict[str, Any] | None:
        try:
            return self.file.read_json() if self.file.is_file() else None
        except (OSError, ValueError):
            return None

    def _beat(self) -> None:
        self.file.write_json({**self.owner, "heartbeat": time.time(), "lease_s": self.lease_s})

    def acquire(self) -> None:
        holder = self._holder()
        if holder is not None and holder.get("owner") != self.owner["owner"] and not _dead_here(holder):
            age = time.time() - float(holder.get("heartbeat", 0))
            if age < float(holder.get("lease_s", self.lease_s)):
                raise ConfigError(
                    f"{self.file.uri.rsplit('/', 1)[0]} is in use by a live run (host {holder.get('host')}, "
                    f"pid {holder.get('pid')}, last heartbeat {age:.0f} s ago; its lease expires "
                    f"{float(holder.get('lease_s', self.lease_s)) - age:.0f} s after its last beat): wait "
                    "for it, or use another --out"
                )
        self._beat()
        self._thread = threading.Thread(target=self._run, name="medsyn-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 4):
            holder = self._holder()
            if holder is not None and holder.get("owner") != self.owner["owner"]:
                self.lost = True  # another run took over (our beats stopped for longer than the lease)
                return
            with suppress(OSError):  # a missed beat; the next one retries
                self._beat()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = self._holder()
        if holder is not None and holder.get("owner") == self.owner["owner"]:
            self.file.delete()
