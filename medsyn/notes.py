"""Real notes: the user's own clinical notes with their ICD-10 codes (JSONL, CSV or Parquet).

    notes = load_notes("train.jsonl")            # RuMedTop3's idx/symptoms/code works as is
    notes.column_names == ["note_id", "code", "text"]

Pass the train split only: these notes become examples in prompts and real counts for allocation.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from medsyn.errors import DataError
from medsyn.icd import category, normalize_code
from medsyn.storage import Location

TEXT_COLUMNS = ("text", "note", "symptoms")
ID_COLUMNS = ("note_id", "idx", "id")
SCHEMA = pa.schema([("note_id", pa.string()), ("code", pa.string()), ("text", pa.string())])


def _read_table(loc: Location) -> pa.Table:
    suffix = Path(loc.name).suffix.lower()
    if suffix not in (".jsonl", ".json", ".ndjson", ".csv", ".parquet"):
        raise DataError(f"{loc.uri}: unknown notes format {suffix!r}; use .jsonl, .csv or .parquet")
    try:
        with loc.fs.open_input_file(loc.path) as f:
            if suffix == ".csv":
                return pacsv.read_csv(f)
            if suffix == ".parquet":
                return pq.read_table(f)
            return pajson.read_json(f)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{loc.uri}: cannot read as {suffix[1:]}: {exc}") from exc


def _columns(
    loc: Location, names: list[str], text_column: str | None, code_column: str, id_column: str | None
) -> tuple[str, str, str | None]:
    text_column = text_column or next((c for c in TEXT_COLUMNS if c in names), None)
    if text_column is None or text_column not in names:
        raise DataError(f"{loc.uri}: no text column {text_column or TEXT_COLUMNS}; columns are {names}")
    if code_column not in names:
        raise DataError(f"{loc.uri}: no code column {code_column!r}; columns are {names}")
    id_column = id_column or next((c for c in ID_COLUMNS if c in names), None)
    if id_column is not None and id_column not in names:
        raise DataError(f"{loc.uri}: no id column {id_column!r}; columns are {names}")
    return text_column, code_column, id_column


def note_columns(
    path: Path | str,
    *,
    text_column: str | None = None,
    code_column: str = "code",
    id_column: str | None = None,
) -> tuple[str, str, str | None]:
    """The (text, code, id) column names of a notes file, as `load_notes` finds them (id: None if absent)."""
    loc = Location.parse(path, option="--notes")
    if not loc.is_file():
        raise DataError(f"notes file {loc.uri!r} does not exist")
    return _columns(loc, _read_table(loc).column_names, text_column, code_column, id_column)


def load_notes(
    path: Path | str,
    *,
    text_column: str | None = None,
    code_column: str = "code",
    id_column: str | None = None,
    code_level: str = "category",
) -> pa.Table:
    """Read notes (a local path or any storage URI) into (note_id, code, text); codes are cut to
    3-character categories by default."""
    loc = Location.parse(path, option="--notes")
    if not loc.is_file():
        raise DataError(f"notes file {loc.uri!r} does not exist")
    stem = Path(loc.name).stem
    table = _read_table(loc)
    names = table.column_names
    text_column, code_column, id_column = _columns(loc, names, text_column, code_column, id_column)
    texts = [str(t) if t is not None else "" for t in table[text_column].to_pylist()]
    ids = (
        [str(i) for i in table[id_column].to_pylist()]
        if id_column
        else [f"{stem}:{i}" for i in range(table.num_rows)]
    )
    codes = []
    for row, raw in enumerate(table[code_column].to_pylist()):
        code = normalize_code(str(raw)) if raw is not None else None
        if code is None:
            raise DataError(f"{loc.uri}: row {row + 1}: code {raw!r} is not an ICD-10 code")
        codes.append(category(code) if code_level == "category" else code)
    if len(set(ids)) != len(ids):
        raise DataError(f"{loc.uri}: note ids in column {id_column!r} are not unique")
    return pa.table({"note_id": ids, "code": codes, "text": texts}, schema=SCHEMA)
