"""Errors that medsyn raises for bad input: each names the bad value and what would be valid.

Three kinds, so callers can react by type rather than by message text:

- `ConfigError`: a bad option or request field (`option` names it, e.g. ``"codes"``);
- `DataError`: a missing, empty or malformed input file or directory;
- `ServiceError`: a service medsyn talks to (Ray, Neo4j, an endpoint, storage) is unreachable or fails.

All derive from `MedsynError`; the CLI prints their message without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MedsynError(Exception):
    """Base class: an error the user can fix; the CLI prints its message without a traceback."""


class ConfigError(MedsynError, ValueError):
    """A bad option value; `option` names the option (config field or request field) where known."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class DataError(MedsynError):
    """An input file or directory is missing, empty or malformed."""


class ServiceError(MedsynError):
    """A service (Ray, Neo4j, an OpenAI-compatible endpoint, object storage) is unreachable or failing."""


class SourceError(DataError):
    """A source file is missing or malformed; names the file and, where known, the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class UnknownCodeError(ConfigError, KeyError):
    """An ICD-10 code that the KG does not know; carries close codes to suggest."""

    def __init__(self, code: str, suggestions: list[str]) -> None:
        self.code = code
        self.suggestions = suggestions
        hint = f"; close codes: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown ICD-10 code {code!r}{hint}", option="codes")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class KGNotFoundError(DataError):
    """A KG location that holds no complete KG."""
