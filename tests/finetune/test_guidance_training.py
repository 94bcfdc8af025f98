"""Training for guided decoding (medsyn.finetune.guidance): condition dropout and the class-contrastive
term, on a tiny model in this process (LocalContext)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from medsyn.errors import MedsynError
from medsyn.finetune import FinetuneConfig, LocalContext, check_inputs, loop_config, train_loop
from medsyn.finetune.guidance import condition_dropout, confuser_titles, contrastive_rows, title_of
from medsyn.finetune.tasks import prompt_text
from medsyn.prompts import get_template


def _config(dataset: Path, out: Path, model: Path, **kw: Any) -> FinetuneConfig:
    base: dict[str, Any] = dict(dataset=dataset, out=out, base_model=str(model), learning_rate=3e-2)
    base |= dict(target_modules=["q_proj", "v_proj"], max_steps=4, batch_size=4, max_length=128)
    base |= dict(num_workers=1, checkpoint_every=2, lora_r=8, lora_alpha=16)
    return FinetuneConfig(**(base | kw))


def _losses(config: FinetuneConfig, out: Path) -> list[float]:
    model, train, val = check_inputs(config)
    ctx = LocalContext(out)
    train_loop({**loop_config(config, str(model)), "train": train, "val": val}, ctx)
    return [r["train_loss"] for r in ctx.reports]


@pytest.mark.integration
def test_blanked_samples_are_the_no_disease_prompt(dataset: Path, tiny_model: Path, tmp_path: Path) -> None:
    _, train, _ = check_inputs(_config(dataset, tmp_path / "x", tiny_model))
    titled = [r for r in train if title_of(r)]
    assert titled and all(title_of(r) in r["instruction"] for r in titled)
    assert condition_dropout(train, 0.0, seed=0) is train
    blanked = condition_dropout(train, 0.5, seed=0)
    changed = [b for a, b in zip(train, blanked, strict=True) if a != b]
    assert 0 < len(changed) < len(titled) and condition_dropout(train, 0.5, seed=0) == blanked
    # a blanked sample's prompt is guided decoding's no_disease negative prompt, word for word
    blank = get_template("instruction_note_example", "ru", "completion").blank
    assert {prompt_text(b)[0] for b in changed} == {blank}
    confusers = confuser_titles(train, 1)
    group = contrastive_rows(titled[0], confusers, 1)
    assert group is not None and len(group) == 2 and group[0] is titled[0]
    assert group[1]["output"] == titled[0]["output"] and title_of(group[1]) != title_of(titled[0])


@pytest.mark.integration
def test_options_off_reproduce_todays_loss_and_on_the_loss_falls(
    dataset: Path, tiny_model: Path, tmp_path: Path
) -> None:
    config = _config(dataset, tmp_path / "today", tiny_model)
    today = _losses(config, tmp_path / "today")
    off = _losses(
        replace(config, condition_dropout=0.0, contrastive_k=2, contrastive_weight=0.0), tmp_path / "off"
    )
    assert off == today
    guided = _losses(
        replace(config, condition_dropout=0.15, contrastive_k=1, contrastive_weight=1.0), tmp_path / "on"
    )
    assert guided != today
    assert guided[-1] < guided[0]  # the loss (answer loss + contrastive term) falls


@pytest.mark.integration
def test_bad_guidance_options(dataset: Path, tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(MedsynError, match=r"--condition-dropout must be in \[0, 1\)"):
        _config(dataset, tmp_path, tiny_model, condition_dropout=1.0)
    with pytest.raises(MedsynError, match="--contrastive-k and --contrastive-weight must be >= 0"):
        _config(dataset, tmp_path, tiny_model, contrastive_k=-1)
