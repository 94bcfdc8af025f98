import re

import pytest

from medsyn.errors import MedsynError
from medsyn.prompts import FORMS, LANGUAGES, TEMPLATES, get_template, render, template_by_id

CASES = [(n, lang, f) for n in TEMPLATES for lang in LANGUAGES for f in FORMS]


@pytest.mark.parametrize(("name", "language", "form"), CASES)
def test_every_template_renders(name: str, language: str, form: str) -> None:
    t = get_template(name, language, form)
    assert t.id == f"{name}.{language}.{form}.v{TEMPLATES[name]['version']}"
    assert template_by_id(t.id) == t
    system, text = render(
        t,
        symptoms=["кашель", "насморк"],
        example="Жалобы на кашель три дня.",
        title="ОРВИ",
        sex="female",
        age=42,
    )
    assert "кашель, насморк" in text
    assert not re.search(r"\{[a-z_]+\}", text), text
    assert (system is not None) == (form == "chat")
    if "example" in TEMPLATES[name][language]["user"]:
        assert "Жалобы на кашель три дня." in text
    if name in ("paper_main",):
        assert "ОРВИ" not in text  # the paper's main prompt never names the disease
    if name.endswith("title"):
        assert "ОРВИ" in text
    if name == "baseline_demographics":
        assert "42" in text and ("женский" in text or "female" in text)


def test_paper_prompt_asks_for_the_example_length() -> None:
    _, text = render(
        get_template("paper_main", "en", "chat"), symptoms=["cough"], example="one two three four"
    )
    assert "about 4 words" in text


def test_errors() -> None:
    with pytest.raises(MedsynError, match="needs an example note"):
        render(get_template("paper_main", "ru", "chat"), symptoms=["кашель"])
    with pytest.raises(MedsynError, match="unknown template 'x'; valid: paper_main"):
        get_template("x", "ru", "chat")
    with pytest.raises(MedsynError, match="form 'json' is not valid"):
        get_template("paper_main", "ru", "json")
    with pytest.raises(MedsynError, match="this medsyn has version v1"):
        template_by_id("paper_main.ru.chat.v9")
