"""`POST /v1/notes`: ICD-10 codes in, MKG-grounded notes out (request model and planning; no Ray here).

    {"codes": ["J06"], "n": 2, "language": "ru", "template": "paper_main",
     "symptoms": null, "example": null, "temperature": 0.8, "max_tokens": 200, "seed": 7}

Symptoms are sampled from the MKG unless given; the example note is chosen among the server's real
notes of the same code unless given (or none, when the server has no notes); the plan is the
generation job's planner, so a seeded request is reproducible.
"""

from __future__ import annotations

import random
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from medsyn.errors import ConfigError
from medsyn.kg.store import KGStore
from medsyn.prompts import get_template, messages, negative_prompt, render, start_answer, template_by_id
from medsyn.sampling.plan import PlanConfig, build_planner


class NotesRequest(BaseModel):
    codes: list[str] = Field(min_length=1, description="ICD-10 codes to write notes for")
    n: int = Field(1, ge=1, description="notes per code")
    model: str | None = Field(None, description="served model (default: the only one)")
    language: str | None = Field(None, description="ru or en (default: the server's)")
    template: str | None = Field(None, description="prompt template name (default: the server's)")
    symptoms: list[str] | None = Field(None, description="symptoms to use instead of sampling the MKG")
    example: str | None = Field(None, description="example note to use instead of choosing a real one")
    demographics: bool = Field(False, description="sample sex and age")
    min_symptoms: int = Field(2, ge=1)
    max_symptoms: int = Field(5, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="default: the server's")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="default: the server's")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="default: the server's")
    guidance_scale: float | None = Field(
        None,
        ge=1.0,
        le=10.0,
        description="guided decoding (1 = off; transformers replicas only; default: the server's)",
    )
    negative_prompt: Literal["no_disease", "confuser"] | None = Field(
        None, description="guided decoding's negative prompt (default: the server's)"
    )
    max_tokens: int | None = Field(None, ge=1)
    opening_words: int | None = Field(
        None,
        ge=0,
        le=20,
        description="form completion: start each note with the first N words of another real note of its "
        "code (default: the server's)",
    )
    seed: int | None = Field(None, ge=0, description="plan and sampling seed (random if absent)")


class NotesIndex:
    """The server's real notes indexed by code once per replica: a request plans from the notes of its
    own codes (a few rows), not from every note the server holds.

        index = NotesIndex(load_notes("train.jsonl"))
        plan_notes(kg, index.for_codes(["J06"]), request, language="ru")
    """

    def __init__(self, notes: pa.Table | None) -> None:
        self.notes = notes
        self.rows: dict[str, np.ndarray] = {}
        if notes is not None and notes.num_rows:
            codes = np.asarray(notes["code"].to_pylist(), dtype=object)
            order = np.argsort(codes, kind="stable")
            values, starts = np.unique(codes[order], return_index=True)
            for value, part in zip(values, np.split(order, starts[1:]), strict=True):
                self.rows[str(value)] = np.sort(part)

    def for_codes(self, codes: list[str]) -> pa.Table | None:
        """The notes of these codes' categories, in their original order (None without notes)."""
        if self.notes is None:
            return None
        from medsyn.icd import category, normalize_code

        wanted = {category(normalize_code(c) or c.strip().upper()) for c in codes}
        parts = [self.rows[c] for c in sorted(wanted) if c in self.rows]
        rows = np.sort(np.concatenate(parts)) if parts else np.array([], dtype=np.int64)
        return self.notes.take(pa.array(rows, pa.int64()))


# The planner's options -> the /v1/notes request field a bad value came from (the 400 answer's `param`).
REQUEST_FIELDS = {
    "codes": "codes",
    "counts": "codes",
    "language": "language",
    "templates": "template",
    "template": "template",
    "form": "template",
    "min_symptoms": "min_symptoms",
    "max_symptoms": "max_symptoms",
    "symptoms": "symptoms",
    "opening_words": "opening_words",
}


def plan_notes(
    kg: KGStore,
    notes: pa.Table | None,
    req: NotesRequest,
    *,
    language: str,
    default_template: str = "paper_main",
    form: str = "chat",
    opening_words: int = 0,
    negative: str | None = None,
    confuser_titles: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The planned notes of a request, each with its chat `messages` (form chat) or its `prompt` (form
    completion, ending with the note's `opening`); `default_template` and `opening_words` are used when
    the request gives none. `negative` (no_disease or confuser, with `confuser_titles`: code -> title):
    each note also gets guided decoding's negative prompt, `negative`, in the same form.

    Raises:
        ConfigError: a bad request value; its `option` is the request field (see REQUEST_FIELDS).
    """
    template_name = req.template or default_template
    seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    lang = req.language or language
    codes = list(dict.fromkeys(c.strip().upper() for c in req.codes))
    use_examples = req.example is None and notes is not None
    try:
        if req.symptoms is not None and not [s for s in req.symptoms if s.strip()]:
            raise ConfigError(
                "symptoms must hold at least one non-empty symptom (or be left out)", option="symptoms"
            )
        config = PlanConfig(
            codes=codes,
            n=req.n * len(codes),
            allocation="explicit",
            counts=",".join(f"{c}={req.n}" for c in codes),
            seed=seed,
            language=cast(Any, lang),  # PlanConfig checks it: a bad value is a 400 naming the valid ones
            templates=[template_name],
            form=cast(Any, form),
            examples="same_code" if use_examples else "none",
            demographics=req.demographics,
            min_symptoms=req.min_symptoms,
            max_symptoms=max(req.min_symptoms, req.max_symptoms),
            on_missing_symptoms="skip" if req.symptoms else "fail",
            opening_words=req.opening_words if req.opening_words is not None else opening_words,
        )
        planner = build_planner(kg, notes if use_examples or config.opening_words else None, config)
    except ConfigError as exc:
        raise ConfigError(str(exc), option=REQUEST_FIELDS.get(exc.option or "")) from exc
    plan = planner.plan(np.arange(planner.total))
    out = []
    for i in range(planner.total):
        symptoms = [s.strip() for s in req.symptoms if s.strip()] if req.symptoms else plan["symptoms"][i]
        example = req.example if req.example is not None else plan["example_text"][i]
        # With an example in the request the named template is used as is; otherwise the planner's choice
        # (which falls back to a symptoms-only template for a code without real notes).
        template = (
            get_template(template_name, lang, form) if req.example else template_by_id(plan["template_id"][i])
        )
        fields = {"symptoms": symptoms, "example": example, "sex": plan["sex"][i], "age": plan["age"][i]}
        system, prompt = render(template, title=plan["title"][i], **fields)
        guided: dict[str, Any] = {}
        if negative is not None:
            try:
                _, text = negative_prompt(
                    template, negative, confuser_title=(confuser_titles or {}).get(plan["code"][i]), **fields
                )
            except ConfigError as exc:
                raise ConfigError(str(exc), option="negative_prompt") from exc
            guided["negative"] = (
                messages(system, text) if form == "chat" else start_answer(text, plan["opening"][i])
            )
        out.append(
            {
                "id": plan["note_id"][i],
                "code": plan["code"][i],
                "title": plan["title"][i],
                "language": lang,
                "symptoms": symptoms,
                "sex": plan["sex"][i],
                "age": plan["age"][i],
                "example_id": "request" if req.example is not None else plan["example_id"][i],
                "example_text": example,
                "template_id": template.id,
                "seed": plan["seed"][i],
                **(
                    {"opening_id": plan["opening_id"][i], "opening": plan["opening"][i]}
                    if plan["opening"][i]
                    else {}
                ),
                **(
                    {"messages": messages(system, prompt)}
                    if form == "chat"
                    else {"prompt": start_answer(prompt, plan["opening"][i])}
                ),
                **guided,
            }
        )
    return out
