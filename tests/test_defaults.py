"""The front door's defaults agree: a Russian run's models are the Russian generator's, and an adapter
names its own base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsyn.errors import MedsynError
from medsyn.finetune import FinetuneConfig
from medsyn.generators import generator_for
from medsyn.pipeline.generate import GenerateConfig


def test_finetune_defaults_to_the_base_model_of_the_language(tmp_path: Path) -> None:
    ru = FinetuneConfig(notes="train.jsonl", out=str(tmp_path))
    assert ru.base_model == "gemma3-270m" == generator_for("ru").base_model  # type: ignore[union-attr]
    assert FinetuneConfig(notes="train.jsonl", out=str(tmp_path), language="en").base_model == (
        "smollm2-135m-instruct"
    )
    assert FinetuneConfig(notes="n", out=str(tmp_path), base_model="/my/model").base_model == "/my/model"


def _adapter(path: Path, base: str) -> Path:
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/elsewhere"}))
    (path / "medsyn_adapter.json").write_text(json.dumps({"base_model": base}))
    return path


def test_generate_with_an_adapter_uses_the_base_model_it_records(tmp_path: Path) -> None:
    common = dict(codes=["J06"], n=2, out=str(tmp_path / "out"), engine="hf")
    mine = GenerateConfig(adapter=str(_adapter(tmp_path / "ru", "gemma3-270m")), **common)  # type: ignore[arg-type]
    ru = generator_for("ru")
    assert ru is not None and mine.model == "gemma3-270m"
    assert (mine.templates, mine.form, mine.temperature) == ([ru.template], ru.form, ru.temperature)
    english = GenerateConfig(adapter=str(_adapter(tmp_path / "en", "smollm2-135m-instruct")), **common)  # type: ignore[arg-type]
    assert english.model == "smollm2-135m-instruct" and english.templates == ["paper_main"]
    with pytest.raises(MedsynError, match="is not a LoRA adapter directory") as err:
        GenerateConfig(adapter=str(tmp_path / "nothing"), **common)  # type: ignore[arg-type]
    assert err.value.option == "adapter"
