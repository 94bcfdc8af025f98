"""Prompt templates (versioned data in templates.yaml) and their rendering.

t = get_template("paper_main", "ru", "chat")     # t.id == "paper_main.ru.chat.v1"
system, prompt = render(t, symptoms=["кашель", "насморк"], example="...", title="...")
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from medsyn.errors import ConfigError

LANGUAGES = ("ru", "en")
FORMS = ("chat", "completion")
_SEX = {"ru": {"female": "женский", "male": "мужской"}, "en": {"female": "female", "male": "male"}}
_UNKNOWN = {"ru": "не указан", "en": "not given"}
# The prompt with the disease removed, for templates that give no `blank` of their own.
BLANK = {
    "ru": {"chat": "Напиши краткую запись о жалобах пациента.", "completion": "Запись о жалобах пациента:"},
    "en": {
        "chat": "Write a short note of a patient's complaints.",
        "completion": "Note of a patient's complaints:",
    },
}
NEGATIVE_PROMPTS = ("no_disease", "confuser")


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    form: str
    version: int
    system: str | None
    text: str
    requires_example: bool
    fallback: str | None
    example_max_words: int | None = None  # examples it was built for are at most this long (None: any)
    blank: str = ""  # the prompt with the disease removed (no title, symptoms or example)

    @property
    def id(self) -> str:
        return f"{self.name}.{self.language}.{self.form}.v{self.version}"


@cache
def _load() -> dict[str, Any]:
    return yaml.safe_load(
        resources.files("medsyn.prompts").joinpath("templates.yaml").read_text(encoding="utf-8")
    )


TEMPLATES: dict[str, Any] = _load()


@cache
def get_template(name: str, language: str, form: str) -> Template:
    """The template `name` in `language` and `form`; a clear error naming what is valid."""
    if name not in TEMPLATES:
        raise ConfigError(f"unknown template {name!r}; valid: {', '.join(TEMPLATES)}", option="template")
    if language not in LANGUAGES:
        raise ConfigError(
            f"language {language!r} is not valid; use {' or '.join(LANGUAGES)}", option="language"
        )
    if form not in FORMS:
        raise ConfigError(f"form {form!r} is not valid; use {' or '.join(FORMS)}", option="form")
    spec = TEMPLATES[name]
    text = spec[language]["user" if form == "chat" else "completion"]
    return Template(
        name=name,
        language=language,
        form=form,
        version=int(spec["version"]),
        system=spec[language]["system"] if form == "chat" else None,
        text=text,
        requires_example=bool(spec.get("requires_example", False)),
        fallback=spec.get("fallback"),
        example_max_words=spec.get("example_max_words"),
        blank=spec[language].get("blank") or BLANK[language][form],
    )


@cache
def template_by_id(template_id: str) -> Template:
    """Inverse of `Template.id` (the version must match the installed one)."""
    try:
        name, language, form, version = template_id.split(".")
    except ValueError:
        raise ConfigError(
            f"template id {template_id!r} is not NAME.LANGUAGE.FORM.vN", option="template"
        ) from None
    template = get_template(name, language, form)
    if f"v{template.version}" != version:
        raise ConfigError(
            f"template {template_id!r}: this medsyn has version v{template.version}", option="template"
        )
    return template


def render(
    template: Template,
    *,
    symptoms: list[str],
    example: str | None = None,
    title: str | None = None,
    sex: str | None = None,
    age: int | None = None,
) -> tuple[str | None, str]:
    """(system message or None, prompt text) for one note."""
    if template.requires_example and not example:
        raise ConfigError(f"template {template.id} needs an example note", option="template")
    lang = template.language
    text = template.text.format(
        symptoms=", ".join(symptoms),
        example=(example or "").strip(),
        n_words=len((example or "").split()),
        title=title or "",
        sex=_SEX[lang].get(sex or "", _UNKNOWN[lang]),
        age=age if age is not None else _UNKNOWN[lang],
    )
    return template.system, text


def negative_prompt(
    template: Template,
    kind: str,
    *,
    symptoms: list[str],
    example: str | None = None,
    confuser_title: str | None = None,
    sex: str | None = None,
    age: int | None = None,
) -> tuple[str | None, str]:
    """(system message or None, prompt text) of guided decoding's negative prompt for one note.

    `no_disease`: the template's `blank`, the prompt without the title, the symptoms and the example;
    `confuser`: the same prompt with the title of the code the notes drift to (`confuser_title`)."""
    if kind == "no_disease":
        return template.system, template.blank
    if kind == "confuser":
        if "{title}" not in template.text:
            raise ConfigError(
                f"negative prompt confuser needs a template with the disease title; {template.id} has none",
                option="negative_prompt",
            )
        if not confuser_title:
            raise ConfigError(
                "negative prompt confuser: no confuser code for this note", option="negative_prompt"
            )
        return render(template, symptoms=symptoms, example=example, title=confuser_title, sex=sex, age=age)
    raise ConfigError(
        f"negative prompt {kind!r} is not valid; use {' or '.join(NEGATIVE_PROMPTS)}",
        option="negative_prompt",
    )


def messages(system: str | None, prompt: str) -> list[dict[str, str]]:
    """Chat messages for a rendered prompt."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def start_answer(prompt: str, opening: str | None) -> str:
    """A completion prompt that ends with the note's opening words (opening_words), if it has any."""
    if not opening:
        return prompt
    return f"{prompt}{'' if prompt[-1:].isspace() else ' '}{opening}"


def with_opening(opening: str | None, text: str | None) -> str | None:
    """The note: its opening (the words its prompt ended with, opening_words) and the engine's text (which
    the engines strip), a space between them unless the text goes on with punctuation."""
    if not opening or text is None:
        return text
    return f"{opening}{'' if text[:1] in ',.;:!?)' else ' '}{text}".strip()
