"""One storage layer for every input and output location: local paths, `s3://`, `gs://`, `hdfs://` and
any URL fsspec understands, through `pyarrow.fs`. Credentials and endpoints come from the environment, as
those libraries read them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`, ...).

    out = Location.parse("s3://bucket/runs/notes", option="--out").check()
    out.join("run.json").write_json({...})            # atomic: a reader sees the old file or the new one
    out.join("shards", "part-0.parquet").write_parquet(table)
    table = out.join("shards").read_parquet(columns=["row"])

Guarantees: a write through `write_bytes`, `write_json` or `write_parquet` is atomic. On a local or
network filesystem the data goes to a hidden temporary name in the same directory, then is renamed; on an
object store a single PUT is atomic by itself (an object is either absent or complete), so nothing is
renamed and no temporary object is left behind. Listing skips hidden names (leftover temporaries).

A `Location` pickles as its URI and option: a Ray task on another node re-opens it with that node's
environment (its own credentials), never with the driver's open connections.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from medsyn.errors import ConfigError, DataError, MedsynError, ServiceError

OBJECT_STORES = ("s3", "gs", "gcs")
"""Schemes without rename: writes go straight to their final name (a PUT is atomic)."""


def scheme_of(uri: str) -> str:
    """'' for a plain local path, else the URL scheme ('s3', 'gs', 'file', ...)."""
    head, sep, _ = str(uri).partition("://")
    return head.lower() if sep and head.isidentifier() else ""


class Location:
    """A file or directory on some filesystem, named by a local path or URI, and the option naming it."""

    def __init__(self, uri: str, fs: pafs.FileSystem, path: str, option: str) -> None:
        self.uri, self.fs, self.path, self.option = uri, fs, path, option

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, uri: str | os.PathLike[str] | Location, *, option: str = "location") -> Location:
        """Resolve a path or URI (no network access yet; `check()` does that). Local paths become absolute."""
        if isinstance(uri, Location):
            return uri
        text = os.fspath(uri)
        if not text:
            raise ConfigError(f"{option}: empty location")
        scheme = scheme_of(text)
        if scheme in ("", "file"):
            local = Path(text[len("file://") :] if scheme == "file" else text).expanduser().absolute()
            return cls(str(local), pafs.LocalFileSystem(), str(local), option)
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as arrow_error:
            fs, path = _fsspec(text, scheme, option, arrow_error)
        return cls(text.rstrip("/"), fs, path.rstrip("/"), option)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.uri, self.option))

    def __repr__(self) -> str:
        return f"Location({self.uri!r})"

    def __str__(self) -> str:
        return self.uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    @property
    def scheme(self) -> str:
        return scheme_of(self.uri)

    @property
    def is_local(self) -> bool:
        """True for a path on this machine's filesystem (which other nodes may not see)."""
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def is_object_store(self) -> bool:
        return self.scheme in OBJECT_STORES

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def local_path(self) -> Path:
        if not self.is_local:
            raise ConfigError(f"{self.option} {self.uri!r} is not a local path")
        return Path(self.path)

    def join(self, *parts: str) -> Location:
        suffix = "/".join(p.strip("/") for p in parts if p)
        if self.is_local:
            path = str(Path(self.path, *[p for p in parts if p]))
            return Location(path, self.fs, path, self.option)
        return Location(f"{self.uri}/{suffix}", self.fs, f"{self.path}/{suffix}", self.option)

    # -- checks -------------------------------------------------------------------------------------
    def check(self, *, must_exist: bool = False) -> Location:
        """Fail at once, naming the option and the URI, on an unreachable endpoint, missing credentials, a
        bucket that does not exist, or (with `must_exist`) a missing file or directory."""
        try:
            if self.is_object_store:
                bucket = self.path.split("/", 1)[0]
                if self.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                    raise DataError(f"{self.option} {self.uri!r}: bucket {bucket!r} does not exist")
            info = self.fs.get_file_info(self.path)
        except MedsynError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise ServiceError(f"{self.option} {self.uri!r}: cannot reach it: {exc}") from exc
        if must_exist and info.type == pafs.FileType.NotFound:
            raise DataError(f"{self.option} {self.uri!r} does not exist")
        return self

    # -- reading ------------------------------------------------------------------------------------
    def info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.path)

    def exists(self) -> bool:
        return self.info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self.info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        """A directory (on an object store: a prefix with at least one object under it)."""
        return self.info().type == pafs.FileType.Directory

    def files(self, prefix: str = "", suffix: str = "") -> list[Location]:
        """Files directly in this directory whose names start with `prefix` and end with `suffix`,
        sorted by name; hidden names (leftover temporaries) are skipped. A missing directory is empty."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=False)
        names = sorted(
            i.base_name
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.File and not i.base_name.startswith(".")
        )
        return [self.join(n) for n in names if n.startswith(prefix) and n.endswith(suffix)]

    def children(self) -> list[Location]:
        """Everything directly in this directory (files and directories, hidden ones too), by name."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=False)
        return [self.join(n) for n in sorted(i.base_name for i in self.fs.get_file_info(selector))]

    def read_bytes(self) -> bytes:
        try:
            with self.fs.open_input_stream(self.path) as f:
                return bytes(f.read())
        except FileNotFoundError as exc:
            raise DataError(f"{self.option} {self.uri!r} does not exist") from exc

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def read_json(self) -> Any:
        return json.loads(self.read_text())

    def read_parquet(self, columns: list[str] | None = None) -> pa.Table:
        """One Parquet file, or every visible Parquet file of a directory, reading only `columns`."""
        return pq.read_table(self.path, filesystem=self.fs, columns=columns)

    # -- writing ------------------------------------------------------------------------------------
    def mkdir(self) -> Location:
        self.fs.create_dir(self.path, recursive=True)
        return self

    def write_bytes(self, data: bytes) -> None:
        """Atomic write (see the module's guarantees)."""
        self._atomic(lambda fs, path: _put(fs, path, data))

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def write_json(self, data: Any) -> None:
        self.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def write_parquet(self, table: pa.Table) -> None:
        """Atomic Parquet write (see the module's guarantees)."""
        self._atomic(lambda fs, path: pq.write_table(table, path, filesystem=fs))

    def _atomic(self, write: Any) -> None:
        parent = self.path.rsplit("/", 1)[0]
        if self.is_object_store:
            write(self.fs, self.path)
            return
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.{self.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            write(self.fs, tmp)
            self.fs.move(tmp, self.path)
        except BaseException:
            with suppress(OSError):
                self.fs.delete_file(tmp)
            raise

    def delete(self) -> None:
        """Delete a file, or a directory and everything under it; nothing there is fine."""
        info = self.info()
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path)

    def move(self, target: Location) -> None:
        """Rename (local) or copy then delete (object stores)."""
        self.fs.create_dir(target.path.rsplit("/", 1)[0], recursive=True)
        self.fs.move(self.path, target.path)

    # -- local copies -------------------------------------------------------------------------------
    @contextmanager
    def local_copy(self) -> Iterator[Path]:
        """A local path to this file or directory: itself when local, else a temporary download."""
        if self.is_local:
            yield self.local_path
            return
        tmp = Path(tempfile.mkdtemp(prefix="medsyn-"))
        try:
            target = tmp / self.name
            if self.info().type == pafs.FileType.Directory:
                for info in self.fs.get_file_info(pafs.FileSelector(self.path, recursive=True)):
                    if info.type != pafs.FileType.File or info.base_name.startswith("."):
                        continue
                    local = target / info.path[len(self.path) :].lstrip("/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    with self.fs.open_input_stream(info.path) as f:
                        local.write_bytes(bytes(f.read()))
            else:
                target.write_bytes(self.read_bytes())
            yield target
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def staged_dir(out: Location, *, last: str | None = None) -> Iterator[Path]:
    """A local directory to write a whole output into: `out` itself when local, else a temporary
    directory uploaded file by file (each atomically; `last`, the commit marker, uploaded after every
    other file) when the block ends without error.

        with staged_dir(Location.parse("s3://bucket/eval"), last="report.json") as local:
            (local / "report.json").write_text(...)
    """
    if out.is_local:
        out.local_path.mkdir(parents=True, exist_ok=True)
        yield out.local_path
        return
    tmp = Path(tempfile.mkdtemp(prefix="medsyn-out-"))
    try:
        yield tmp
        files = sorted(p for p in tmp.rglob("*") if p.is_file() and not p.name.startswith("."))
        files.sort(key=lambda p: p.relative_to(tmp).as_posix() == last)
        for f in files:
            out.join(*f.relative_to(tmp).parts).write_bytes(f.read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _reopen(uri: str, option: str) -> Location:
    return Location.parse(uri, option=option)


def _put(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as f:
        f.write(data)


def _fsspec(uri: str, scheme: str, option: str, arrow_error: Exception) -> tuple[pafs.FileSystem, str]:
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError:
        fsspec = None
    if fsspec is not None:
        try:
            fs, path = url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            arrow_error = exc
        else:
            return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path
    raise ConfigError(
        f"{option} {uri!r}: no filesystem for scheme {scheme!r} ({arrow_error}); valid: a local path, "
        "file://, s3://, gs://, hdfs://, or the scheme of an installed fsspec package (abfs://, sftp://, ...)"
    )


def atomic_dir(out: Path) -> Any:
    """Context manager for a local directory written whole: yields a hidden temporary sibling, which
    replaces `out` when the block ends without error (else it is removed).

        with atomic_dir(out) as tmp:
            model.save_pretrained(tmp)
    """
    return _AtomicDir(Path(out))


class _AtomicDir:
    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        return self.tmp

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{uuid.uuid4().hex[:8]}")
            self.out.rename(old)
        try:
            self.tmp.rename(self.out)
        except OSError:
            if old is not None and not self.out.exists():
                old.rename(self.out)  # put the previous one back
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
