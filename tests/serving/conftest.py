"""Shared by the Serve tests: a LoRA adapter on the packaged default model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def adapter(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random rank-8 LoRA adapter on the served model (random A and B: it changes the output)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(default_model)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    out = tmp_path_factory.mktemp("lora") / "adapter"
    get_peft_model(model, lora).save_pretrained(str(out))
    return out
