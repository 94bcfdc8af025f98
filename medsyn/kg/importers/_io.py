"""Reading source files with errors that name the file and the line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsyn.errors import SourceError

csv.field_size_limit(10_000_000)


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise SourceError(path, "source file not found")
    return path


def read_rows(
    path: Path, *, delimiter: str = ",", required: tuple[str, ...] = (), encoding: str = "utf-8-sig"
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a delimited file with a header; checks columns and field counts."""
    require_file(path)
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError(path, "file is empty (expected a header line)", line=1) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(path, f"unreadable header: {exc}", line=1) from exc
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise SourceError(path, f"missing column(s) {missing}; header is {header}", line=1)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise SourceError(path, f"malformed line: {exc}", line=reader.line_num) from exc
            if not fields:
                continue
            if len(fields) != len(header):
                raise SourceError(
                    path, f"expected {len(header)} fields, found {len(fields)}", line=reader.line_num
                )
            yield reader.line_num, dict(zip(header, fields, strict=True))


def read_jsonl(path: Path, *, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) from a JSON-lines file; each line must be an object with `required`."""
    require_file(path)
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(path, f"invalid JSON: {exc.msg}", line=line_no) from exc
            if not isinstance(obj, dict):
                raise SourceError(path, "expected a JSON object", line=line_no)
            missing = [k for k in required if k not in obj]
            if missing:
                raise SourceError(path, f"missing key(s) {missing}", line=line_no)
            yield line_no, obj
