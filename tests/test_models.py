"""Packaged models: converting one parses its GGUF file once (not once each for the tokenizer, the config
and the weights), once per process however many threads ask, and writes what it always wrote."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from medsyn import models


@pytest.mark.integration
def test_two_threads_convert_once_parsing_the_gguf_once(
    default_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gguf

    opened: list[str] = []

    class CountingReader(gguf.GGUFReader):  # type: ignore[misc]
        def __init__(self, path: str, mode: str = "r") -> None:
            opened.append(str(path))
            super().__init__(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    monkeypatch.setattr(models, "cache_dir", lambda: tmp_path / "cache")  # nothing converted there yet
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(models.resolve_model, [models.DEFAULT_MODEL] * 2))

    assert paths == [tmp_path / "cache" / "models" / models.DEFAULT_MODEL] * 2
    package, gguf_file = models._gguf(models.DEFAULT_MODEL)
    assert opened == [str(Path(package) / gguf_file)]
    assert gguf.GGUFReader is CountingReader  # what was there before, back in place

    # The same files as the session's conversion (default_model, in the usual cache), byte for byte (not
    # the fingerprint medsyn caches beside them once a job has hashed the weights).
    def files(directory: Path) -> list[str]:
        return sorted(p.name for p in directory.iterdir() if p.name != models.FINGERPRINT_FILE)

    assert files(paths[0]) == files(default_model)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (paths[0] / name).read_bytes() == (default_model / name).read_bytes(), name
