"""Which LoRA adapters the Serve app offers, by name, each checked against the served model."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsyn.errors import MedsynError
from medsyn.serving.adapters import parse_adapters


@pytest.fixture(scope="module")
def adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("lora") / "run-7" / "adapter"
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=2, target_modules=["q_proj"])
    )
    model.save_pretrained(str(out))
    return out


@pytest.mark.integration
def test_names_and_paths(adapter: Path, tiny_model: Path) -> None:
    assert parse_adapters([f"notes={adapter}"], tiny_model) == {"notes": str(adapter.resolve())}
    # A bare directory is named after itself, or after its run directory for medsyn's OUT/adapter.
    assert parse_adapters([str(adapter)], tiny_model) == {"run-7": str(adapter.resolve())}
    assert parse_adapters([], tiny_model) == {}


@pytest.mark.integration
def test_bad_adapters_are_refused_by_name(adapter: Path, tiny_model: Path, default_model: Path) -> None:
    with pytest.raises(MedsynError, match="given twice"):
        parse_adapters([f"a={adapter}", f"a={adapter}"], tiny_model)
    with pytest.raises(MedsynError, match="adapter name 'x:y'"):
        parse_adapters([f"x:y={adapter}"], tiny_model)
    with pytest.raises(MedsynError, match="not a LoRA adapter directory"):
        parse_adapters([f"a={adapter.parent}"], tiny_model)
    with pytest.raises(MedsynError, match="not on the engine's model"):
        parse_adapters([f"a={adapter}"], default_model)


@pytest.mark.integration
def test_an_adapter_knows_its_base_model_by_content(adapter: Path, tiny_model: Path, tmp_path: Path) -> None:
    """medsyn_adapter.json records the base model's weights fingerprint: the same weights anywhere pass,
    changed weights under the same name are refused."""
    import json
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from medsyn.models import check_adapter, model_fingerprint

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    fingerprint = model_fingerprint(model)
    assert fingerprint == model_fingerprint(tiny_model)  # content, not path
    tuned = tmp_path / "adapter"
    shutil.copytree(adapter, tuned)
    meta = {"base_model": str(model), "base_model_fingerprint": fingerprint}
    (tuned / "medsyn_adapter.json").write_text(json.dumps(meta))
    assert check_adapter(tuned, model) == tuned
    # The model directory is overwritten with other weights (say, a new version under the same path).
    changed = AutoModelForCausalLM.from_pretrained(model)
    with torch.no_grad():
        next(iter(changed.parameters())).add_(0.01)
    changed.save_pretrained(model)
    assert model_fingerprint(model) != fingerprint
    with pytest.raises(MedsynError, match=r"with other weights \(fingerprint .*retrain the adapter"):
        check_adapter(tuned, model)
