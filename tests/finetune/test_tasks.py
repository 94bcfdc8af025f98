"""Every instruction task on a small fixture; the expected samples were written by hand."""

from __future__ import annotations

from medsyn.finetune.tasks import code_tasks, note_tasks, prompt_text, related_codes

NOTE = "Боль в горле и насморк третий день, температура 38, слабость."  # 10 words
KG = ["боль в горле", "насморк", "кашель"]  # the note mentions the first two


def test_note_tasks() -> None:
    samples = note_tasks("n1", "J06", NOTE, KG, language="ru", seed=0)
    got = [(s["task"], s["input"], s["output"]) for s in samples]
    assert got == [
        ("note_from_symptoms", "боль в горле, насморк", NOTE),
        ("continuation", "Боль в горле и насморк", "третий день, температура 38, слабость."),  # 1/2: 5 words
        ("continuation", "Боль в горле", "и насморк третий день, температура 38, слабость."),  # 1/3: 3 words
        ("continuation", "Боль в", "горле и насморк третий день, температура 38, слабость."),  # 1/4: 2 words
    ]
    assert all(s["code"] == "J06" and s["note_id"] == "n1" and s["source"] == "real" for s in samples)
    assert samples[0]["instruction"] in (
        "Напиши жалобы пациента по списку симптомов.",
        "Составь запись о жалобах пациента, используя все перечисленные симптомы.",
        "По симптомам ниже напиши клиническую заметку о жалобах больного.",
    )
    # Same seed, same paraphrases; a short note has no continuations; no mentioned symptom, no note task.
    assert note_tasks("n1", "J06", NOTE, KG, language="ru", seed=0) == samples
    assert [s["task"] for s in note_tasks("n2", "J06", "Насморк, кашель.", KG, language="ru", seed=0)] == [
        "note_from_symptoms"
    ]
    assert note_tasks("n3", "J06", "Болит колено.", KG, language="ru", seed=0) == []


def test_code_tasks() -> None:
    samples = code_tasks(
        "J06",
        "ОРВИ",
        ["насморк", "кашель", "боль в горле"],
        ["парацетамол"],
        {1: ["J02 Фарингит"], 2: ["J20 Бронхит"]},
        language="ru",
        seed=0,
    )
    got = [(s["task"], s["input"], s["output"]) for s in samples]
    assert got == [
        ("symptom_continuation", "насморк", "кашель, боль в горле"),
        ("kg_symptoms", "", "насморк, кашель, боль в горле"),
        ("kg_drugs", "", "парацетамол"),
        ("kg_related", "", "J02 Фарингит"),
        ("kg_related", "", "J20 Бронхит"),
    ]
    assert all("«ОРВИ»" in s["instruction"] for s in samples)
    assert all(s["source"] == "kg" and s["note_id"] is None for s in samples)
    assert "2" in samples[-1]["instruction"]  # the hop count is in the question


def test_related_codes_by_hops() -> None:
    # A-B share y, B-C share z; D shares nothing.
    symptoms = {"A": {"x", "y"}, "B": {"y", "z"}, "C": {"z"}, "D": {"w"}}
    assert related_codes(symptoms, "A", 3) == {1: ["B"], 2: ["C"]}
    assert related_codes(symptoms, "A", 1) == {1: ["B"]}
    assert related_codes(symptoms, "D", 3) == {}


def test_prompt_format_is_the_papers() -> None:
    s = {"language": "ru", "instruction": "Продолжи запись.", "input": "Боль в", "output": "горле."}
    assert prompt_text(s) == ("### Задание:\nПродолжи запись.\n\n### Вход:\nБоль в\n\n### Ответ:\n", "горле.")
    en = {"language": "en", "instruction": "List them.", "input": "", "output": "cough"}
    assert prompt_text(en) == ("### Task:\nList them.\n\n### Answer:\n", "cough")


def test_generator_task_prompt_is_the_generation_template() -> None:
    """note_from_title_symptoms trains on exactly the prompt the generation job renders from the
    `instruction_note` template: same text for the same title and symptoms, in both languages."""
    from medsyn.prompts import get_template, render

    title = "Острые инфекции верхних дыхательных путей"
    samples = note_tasks("n1", "J06", NOTE, KG, language="ru", seed=0, title=title)
    task = next(s for s in samples if s["task"] == "note_from_title_symptoms")
    assert sorted(task["input"].split(", ")) == ["боль в горле", "насморк"] and task["output"] == NOTE
    prompt, answer = prompt_text(task)
    symptoms = task["input"].split(", ")
    _, rendered = render(get_template("instruction_note", "ru", "completion"), symptoms=symptoms, title=title)
    assert prompt == rendered and answer == NOTE
    en = note_tasks("n1", "J06", "Sore throat and runny nose for three days.", ["sore throat"], language="en",
                    seed=0, title="Acute upper respiratory infections")  # fmt: skip
    _, rendered_en = render(
        get_template("instruction_note", "en", "completion"),
        symptoms=["sore throat"],
        title="Acute upper respiratory infections",
    )
    assert prompt_text(en[0])[0] == rendered_en
    # With an example note: the paper's prompt, exactly as `instruction_note_example` renders it.
    example = "Кашель, заложенность носа, температура 37,2."
    with_example = note_tasks("n1", "J06", NOTE, KG, language="ru", seed=0, title=title, example=example)
    task = next(s for s in with_example if s["task"] == "note_from_example")
    _, rendered = render(
        get_template("instruction_note_example", "ru", "completion"),
        symptoms=task["input"].split("Симптомы: ")[1].split(", "),
        title=title,
        example=example,
    )
    assert prompt_text(task) == (rendered, NOTE) and f"Пример: {example}" in rendered
    assert "note_from_example" not in {s["task"] for s in samples}  # no example, no such sample
    # Without a title (no KG disease) there is no generator sample.
    assert "note_from_title_symptoms" not in {
        s["task"] for s in note_tasks("n1", "J06", NOTE, KG, language="ru", seed=0)
    }
