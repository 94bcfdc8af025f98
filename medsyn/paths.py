"""Where medsyn finds the shared public data: `MEDSYN_DATA_DIR`, else `../shared/data` if it exists."""

from __future__ import annotations

import os
from pathlib import Path

from medsyn.errors import ConfigError, DataError

_CANDIDATES = (Path("../shared/data"), Path(__file__).resolve().parents[2] / "shared" / "data")


def default_data_dir() -> Path | None:
    """The data directory to use when none is given, or None when there is none on this machine."""
    env = os.environ.get("MEDSYN_DATA_DIR")
    if env:
        return Path(env)
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate.resolve()
    return None


def require_data_dir(data_dir: Path | str | None) -> Path:
    """`data_dir` if given, else the default; a clear error when neither exists."""
    path = Path(data_dir) if data_dir else default_data_dir()
    if path is None:
        raise ConfigError(
            "no data directory: pass --data-dir DIR or set MEDSYN_DATA_DIR "
            "(the public data lives in ../shared/data beside the checkout)"
        )
    if not path.is_dir():
        raise DataError(f"data directory {str(path)!r} does not exist")
    return path
