"""Errors that medsyn raises for bad input: each names the bad value and what would be valid."""

from __future__ import annotations

from pathlib import Path


class MedsynError(Exception):
    """Base class: an error the user can fix; the CLI prints its message without a traceback."""


class SourceError(MedsynError):
    """A source file is missing or malformed; names the file and, where known, the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class UnknownCodeError(MedsynError, KeyError):
    """An ICD-10 code that the KG does not know; carries close codes to suggest."""

    def __init__(self, code: str, suggestions: list[str]) -> None:
        self.code = code
        self.suggestions = suggestions
        hint = f"; close codes: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"unknown ICD-10 code {code!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class KGNotFoundError(MedsynError):
    """A KG location that holds no complete KG."""
