"""Serve's defaults: Russian notes come from the shipped generator (its adapter, template and prompt form);
other languages keep the packaged English model and the paper's chat prompt."""

from __future__ import annotations

import pytest

from medsyn.kg import open_kg
from medsyn.serving.config import ServeConfig
from medsyn.serving.notes import NotesRequest, plan_notes


def test_russian_notes_default_to_the_shipped_generator() -> None:
    ru = ServeConfig()
    assert (ru.model, ru.adapters, ru.notes_model) == ("gemma3-270m", ["ru=gemma3-270m-ru"], "gemma3-270m:ru")
    assert (ru.notes_template, ru.notes_form) == ("instruction_note_example", "completion")
    # /v1/notes samples as the generation job does with that generator, unless a request says otherwise.
    from medsyn.generators import GENERATORS

    shipped = GENERATORS["gemma3-270m-ru"]
    assert (ru.notes_temperature, ru.notes_top_p, ru.notes_frequency_penalty) == (
        shipped.temperature,
        shipped.top_p,
        shipped.frequency_penalty,
    )
    assert ru.notes_opening_words == shipped.opening_words
    assert shipped.frequency_penalty > 0 and shipped.temperature != 0.8
    en = ServeConfig(language="en")
    assert (en.model, en.adapters, en.notes_model) == ("smollm2-135m-instruct", [], None)
    assert (en.notes_template, en.notes_form) == ("paper_main", "chat")
    assert (en.notes_temperature, en.notes_top_p, en.notes_frequency_penalty) == (0.8, 0.95, 0.0)
    assert en.notes_opening_words == 0
    # A model of one's own: no shipped adapter is added.
    own = ServeConfig(model="/models/mine", adapters=["ft=/runs/ft/adapter"])
    assert own.adapters == ["ft=/runs/ft/adapter"] and own.notes_model is None


def test_completion_form_plans_a_prompt_not_messages() -> None:
    kg = open_kg("demo")
    request = NotesRequest(codes=["J06"], n=2, seed=3)
    notes = plan_notes(
        kg, None, request, language="ru", default_template="instruction_note", form="completion"
    )
    assert len(notes) == 2 and all("messages" not in n for n in notes)
    for n in notes:
        assert n["template_id"] == "instruction_note.ru.completion.v1"
        assert n["prompt"].startswith("### Задание:\n") and n["prompt"].endswith("### Ответ:\n")
        assert f"«{n['title']}»" in n["prompt"] and ", ".join(n["symptoms"]) in n["prompt"]
    chat = plan_notes(
        kg, None, NotesRequest(codes=["J06"], seed=3, template="baseline_symptoms"), language="ru"
    )
    assert chat[0]["messages"][-1]["role"] == "user" and "prompt" not in chat[0]


@pytest.mark.integration
def test_the_notes_index_plans_like_every_note(real_data_dir) -> None:  # type: ignore[no-untyped-def]
    """/v1/notes plans from the notes of the request's codes (indexed once per replica): the same plan,
    example notes included, as planning from every note the server holds."""
    from medsyn.notes import load_notes
    from medsyn.serving.notes import NotesIndex

    kg = open_kg("demo")
    notes = load_notes(real_data_dir / "rumedbench" / "RuMedTop3" / "train_v1.jsonl")
    index = NotesIndex(notes)
    request = NotesRequest(codes=["J06", "m54.5", "I10"], n=3, seed=11)
    subset = index.for_codes(request.codes)
    assert subset is not None and 0 < subset.num_rows < notes.num_rows / 4
    assert set(subset["code"].to_pylist()) <= {"J06", "M54", "I10"}
    full = plan_notes(kg, notes, request, language="ru")
    fast = plan_notes(kg, subset, request, language="ru")
    assert [n["example_id"] for n in fast] == [n["example_id"] for n in full]
    assert any(n["example_id"] for n in fast) and fast == full
    assert index.for_codes(["Z99"]).num_rows == 0 and NotesIndex(None).for_codes(["J06"]) is None


def test_openings_in_completion_prompts_only() -> None:
    """opening_words (the request's, else the server's): a completion prompt ends with the first words of
    another real note of the code; a chat prompt cannot, and says so by the field's name."""
    import pyarrow as pa
    import pytest

    from medsyn.errors import ConfigError

    kg = open_kg("demo")
    notes = pa.table(
        {"note_id": ["a", "b"], "code": ["J06", "J06"], "text": ["Насморк и кашель.", "Боль в горле, жар."]}
    )
    request = NotesRequest(codes=["J06"], n=4, seed=5, opening_words=2)
    planned = plan_notes(
        kg, notes, request, language="ru", default_template="instruction_note_example", form="completion"
    )
    first_two = {"a": "Насморк и", "b": "Боль в"}
    for note in planned:
        assert {note["example_id"], note["opening_id"]} == {"a", "b"}
        assert note["opening"] == first_two[note["opening_id"]]
        assert note["prompt"].endswith("### Ответ:\n" + note["opening"])
    server_default = plan_notes(
        kg, notes, NotesRequest(codes=["J06"], seed=5), language="ru",
        default_template="instruction_note_example", form="completion", opening_words=1,
    )  # fmt: skip
    assert server_default[0]["opening"] in {"Насморк", "Боль"}
    with pytest.raises(ConfigError, match="opening_words 2 needs form completion") as err:
        plan_notes(kg, notes, request, language="ru")
    assert err.value.option == "opening_words"  # the 400's param
    with pytest.raises(ConfigError, match="notes_opening_words 1 needs .* completion"):
        ServeConfig(language="en", notes_opening_words=1)


def test_guided_notes_carry_their_negative_prompt_and_vllm_replicas_refuse_guidance() -> None:
    import json
    from types import SimpleNamespace

    from medsyn.errors import MedsynError
    from medsyn.prompts import get_template
    from medsyn.serving.ingress import MedsynIngress

    kg = open_kg("demo")
    request = NotesRequest(codes=["J06", "M54"], seed=3, guidance_scale=2)
    kw = dict(language="ru", default_template="instruction_note", form="completion")
    plain = plan_notes(kg, None, request, **kw)  # type: ignore[arg-type]
    guided = plan_notes(kg, None, request, negative="no_disease", **kw)  # type: ignore[arg-type]
    assert "negative" not in plain[0]
    blank = get_template("instruction_note", "ru", "completion").blank
    assert [n["negative"] for n in guided] == [blank, blank]
    assert [n["prompt"] for n in guided] == [n["prompt"] for n in plain]
    titles = {"J06": "Дорсалгия", "M54": "Острый фарингит"}
    confused = plan_notes(kg, None, request, negative="confuser", confuser_titles=titles, **kw)  # type: ignore[arg-type]
    assert all(f"«{titles[n['code']]}»" in n["negative"] for n in confused)
    # The ingress answers a guided request for vLLM replicas with a 400 naming the parameter.
    vllm = SimpleNamespace(settings=SimpleNamespace(engine="vllm"))
    error = MedsynIngress._guidance_error(vllm, 2.0)  # type: ignore[arg-type]
    assert error is not None and error.status_code == 400
    assert json.loads(error.body)["error"]["param"] == "guidance_scale"
    assert MedsynIngress._guidance_error(vllm, None) is None  # type: ignore[arg-type]
    assert MedsynIngress._guidance_error(SimpleNamespace(settings=SimpleNamespace(engine="hf")), 2.0) is None  # type: ignore[arg-type]
    with pytest.raises(MedsynError, match="needs --engine hf"):
        ServeConfig(notes_guidance_scale=2)
    assert ServeConfig(engine="hf", notes_guidance_scale=2).notes_guidance_scale == 2
