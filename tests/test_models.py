"""Packaged models: converting one parses its GGUF file once, not once per tokenizer, config and weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsyn import models


def test_converting_parses_the_gguf_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    package, gguf_file = models._gguf(models.DEFAULT_MODEL)
    opened: list[str] = []

    class CountingReader(gguf.GGUFReader):  # type: ignore[misc]
        def __init__(self, path: str, mode: str = "r") -> None:
            opened.append(str(path))
            super().__init__(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    with models._one_gguf_reader():
        tokenizer = AutoTokenizer.from_pretrained(str(package), gguf_file=gguf_file)
        config = AutoConfig.from_pretrained(str(package), gguf_file=gguf_file)
    assert opened == [str(Path(package) / gguf_file)]
    assert tokenizer.vocab_size == config.vocab_size > 1000
    assert gguf.GGUFReader is CountingReader  # what was there before, back in place
