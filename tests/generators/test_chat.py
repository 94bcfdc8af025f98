"""The shipped generator answers chat: its base model's chat template renders the layout it was trained
on, the hf engine writes a note from chat messages, and a model without a template is refused cleanly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.models import GEMMA, has_chat_template, resolve_model
from medsyn.prompts import get_template, messages, render

pytestmark = pytest.mark.integration


def test_the_chat_template_renders_the_training_layout() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(GEMMA))
    fields = dict(symptoms=["кашель", "насморк"], example="Кашель третий день.", title="Бронхит")
    system, chat = render(get_template("instruction_note_example", "ru", "chat"), **fields)
    _, completion = render(get_template("instruction_note_example", "ru", "completion"), **fields)
    rendered = tokenizer.apply_chat_template(
        messages(system, chat), tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<bos>" + completion  # the system message dropped, as in training
    free = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Жалобы пациента с гастритом"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert free == "<bos>### Задание:\nЖалобы пациента с гастритом\n\n### Ответ:\n"


def test_the_shipped_generator_writes_a_note_from_chat_messages() -> None:
    with make_engine("hf", GEMMA, adapter="gemma3-270m-ru") as engine:
        chat = [{"role": "user", "content": "Напиши запись о жалобах пациента с заболеванием «Гастрит»."}]
        (result,) = engine.generate(
            [Request("c", messages=chat, params=SamplingParams(0.5, 0.9, 24, seed=1))]
        )
    assert result.error is None and result.text and "###" not in result.text


def test_a_model_without_a_chat_template_is_a_clean_400(tmp_path: Path) -> None:
    from medsyn.serving.ingress import MedsynIngress

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    assert has_chat_template(tmp_path) is False and has_chat_template(GEMMA) is True
    (tmp_path / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    assert has_chat_template(tmp_path) is True
    # The ingress answers before any replica sees the request (their error names Ray's internals).
    ingress = SimpleNamespace(answers_chat=False, settings=SimpleNamespace(served_name="plain-model"))
    response = asyncio.run(MedsynIngress.chat(ingress, None, None))  # type: ignore[arg-type]
    error = json.loads(response.body)["error"]
    assert response.status_code == 400 and error["param"] == "messages"
    assert "no chat template" in error["message"] and "ray" not in error["message"].lower()
