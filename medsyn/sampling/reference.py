"""The plan computed one row at a time in plain Python: the readable reference of `Planner.plan`.

It draws the same numbers (splitmix64 on Python ints) and must give the same rows; the tests hold the
vectorised planner to it and the planning benchmark uses it as its baseline.
"""

from __future__ import annotations

import math
from typing import Any

from medsyn.prompts import get_template
from medsyn.sampling.plan import (
    S_COUNT,
    S_EXAMPLE,
    S_OPENING,
    S_SHUFFLE,
    S_SYMPTOM,
    S_TEMPLATE,
    Planner,
)

M64 = (1 << 64) - 1


def mix(z: int) -> int:
    """splitmix64 on a Python int."""
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def uniform(seed: int, stream: int) -> float:
    return (mix(seed ^ mix(stream + 1)) >> 11) / float(1 << 53)


def plan_row(planner: Planner, row: int) -> dict[str, Any]:
    """One row's code, symptoms, example, opening and template."""
    cfg = planner.config
    seed = mix(mix(cfg.seed & M64) ^ mix(row))
    ci = next(i for i, c in enumerate(planner.cumulative.tolist()) if row < c)
    code = planner.codes[ci]
    span = cfg.max_symptoms - cfg.min_symptoms + 1
    k = min(cfg.min_symptoms + math.floor(uniform(seed, S_COUNT) * span), len(code.symptoms))
    powers = [w ** (1.0 / cfg.symptom_temperature) for w in code.weights.tolist()]
    keys = [uniform(seed, S_SYMPTOM + j) ** (1.0 / p) for j, p in enumerate(powers)]
    chosen = sorted(range(len(keys)), key=lambda j: -keys[j])[:k]
    chosen.sort(key=lambda j: uniform(seed, S_SHUFFLE + j))
    example_id = example_text = None
    if code.example_ids:
        pick = math.floor(uniform(seed, S_EXAMPLE) * len(code.example_ids))
        example_id, example_text = code.example_ids[pick], code.example_texts[pick]
    opening_id = opening = None
    if code.opening_ids:
        others = [i for i in code.opening_ids if i != example_id] or code.opening_ids
        chosen_id = others[math.floor(uniform(seed, S_OPENING) * len(others))]
        opening_id, opening = chosen_id, code.openings[code.opening_ids.index(chosen_id)]
    template = get_template(
        cfg.templates[math.floor(uniform(seed, S_TEMPLATE) * len(cfg.templates))], cfg.language, cfg.form
    )
    if template.requires_example and example_id is None:
        template = get_template(template.fallback or "baseline_symptoms", cfg.language, cfg.form)
    return {
        "code": code.code,
        "title": code.title,
        "symptoms": [code.symptoms[j] for j in chosen],
        "example_id": example_id,
        "example_text": example_text,
        "opening_id": opening_id,
        "opening": opening,
        "template_id": template.id,
        "seed": seed >> 1,
    }
