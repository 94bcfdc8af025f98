"""The stages of the generation job as plain batch functions (Ray Data calls them; tests call them too).

A batch is a dict of column -> list (or numpy array).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa

from medsyn.engines import Engine, Request, SamplingParams, make_engine
from medsyn.pipeline import rundir
from medsyn.pipeline.schema import NOTES
from medsyn.prompts import messages, negative_prompt, render, start_answer, template_by_id, with_opening
from medsyn.quality.scores import score_note
from medsyn.sampling.plan import Planner
from medsyn.storage import Location


def as_columns(batch: Any) -> dict[str, list[Any]]:
    """A batch (Arrow table or dict of arrays) as a dict of plain Python lists (None stays None)."""
    if isinstance(batch, pa.Table):
        return batch.to_pydict()
    return {k: _column(batch, k, len(v)) for k, v in batch.items()}


_PLANNERS: dict[str, Planner] = {}


def _resolve(planner: Any) -> Planner:
    """The planner itself, or the one behind a Ray object reference, fetched once per worker process.

    The job passes a reference: a planner holds the KG subset and the example notes, and inlined into the
    generation actor's constructor arguments it made Ray log an error at every start."""
    if isinstance(planner, Planner):
        return planner
    key = planner.hex()
    if key not in _PLANNERS:
        import ray

        _PLANNERS[key] = ray.get(planner)
    return _PLANNERS[key]


def plan_and_prompt(
    batch: Any,
    planner: Any,
    with_messages: bool = False,
    negative: str | None = None,
    confuser_titles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Rows -> planned notes with their rendered prompts (and, if asked, chat messages for ray.data.llm).
    `negative` (no_disease or confuser, with `confuser_titles`: code -> its confuser's title): also the
    negative prompt of guided decoding, as the `negative` column (it ends with the row's opening too).
    `planner`: a Planner, or a Ray object reference to one."""
    planner = _resolve(planner)
    out = planner.plan(np.asarray(as_columns(batch)["row"], dtype=np.int64))
    systems, prompts, negatives = [], [], []
    for i in range(len(out["row"])):
        template = template_by_id(out["template_id"][i])
        fields = {"symptoms": out["symptoms"][i], "sex": out["sex"][i], "age": out["age"][i]}
        system, prompt = render(template, example=out["example_text"][i], title=out["title"][i], **fields)
        systems.append(system)
        prompts.append(start_answer(prompt, out["opening"][i]))
        if negative is not None:
            confuser = (confuser_titles or {}).get(out["code"][i])
            _, text = negative_prompt(
                template, negative, example=out["example_text"][i], confuser_title=confuser, **fields
            )
            negatives.append(start_answer(text, out["opening"][i]))
    out["system"], out["prompt"] = systems, prompts
    if negative is not None:
        out["negative"] = negatives
    if with_messages and planner.config.form == "chat":
        out["messages"] = [messages(s, p) for s, p in zip(systems, prompts, strict=True)]
    return out


def to_requests(batch: dict[str, Any], params: SamplingParams, form: str) -> list[Request]:
    requests = []
    negatives = batch.get("negative") or [None] * len(batch["note_id"])
    for i, note_id in enumerate(batch["note_id"]):
        p = dataclasses.replace(params, seed=int(batch["seed"][i]))
        negative = negatives[i] if params.guidance_scale != 1.0 else None
        if form == "chat":
            chat = messages(batch["system"][i], batch["prompt"][i])
            negative_chat = messages(batch["system"][i], negative) if negative is not None else None
            requests.append(Request(note_id, messages=chat, params=p, negative=negative_chat))
        else:
            requests.append(Request(note_id, prompt=batch["prompt"][i], params=p, negative=negative))
    return requests


class GenerateBatch:
    """A Ray Data callable class: holds one engine per worker, generates a batch of planned notes."""

    def __init__(
        self, engine: str, model: str, params: SamplingParams, form: str, **engine_kwargs: Any
    ) -> None:
        self.engine: Engine = make_engine(engine, model, **engine_kwargs)
        self.params, self.form = params, form

    def __call__(self, batch: Any) -> dict[str, Any]:
        batch = as_columns(batch)
        results = self.engine.generate(to_requests(batch, self.params, self.form))
        openings = batch.get("opening") or [None] * len(results)
        batch["text"] = [with_opening(o, r.text) for o, r in zip(openings, results, strict=True)]
        batch["error"] = [r.error for r in results]
        batch["prompt_tokens"] = [r.prompt_tokens for r in results]
        batch["completion_tokens"] = [r.completion_tokens for r in results]
        batch["finish_reason"] = [r.finish_reason for r in results]
        batch["latency_s"] = [r.latency_s for r in results]
        return batch


DRY_RUN = "dry-run"


def dry_run_generate(batch: Any) -> dict[str, Any]:
    """Engine `dry-run`, for capacity planning: a deterministic note built from each row's symptoms, at no
    model cost (a stateless Ray Data task, not an engine actor). Rows say so in their `engine` column."""
    batch = as_columns(batch)
    prompts = batch.get("prompt") or [None] * len(batch["symptoms"])
    texts = [f"Жалобы на {', '.join(symptoms)}." for symptoms in batch["symptoms"]]
    batch["text"] = texts
    batch["error"] = [None] * len(texts)
    batch["prompt_tokens"] = [len(p.split()) if p else None for p in prompts]
    batch["completion_tokens"] = [len(t.split()) for t in texts]
    batch["finish_reason"] = ["stop"] * len(texts)
    batch["latency_s"] = [0.0] * len(texts)
    return batch


def score(batch: Any, copy_threshold: float) -> dict[str, Any]:
    """Add the per-note scores (None for failed rows)."""
    batch = as_columns(batch)
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "symptom_recall",
            "length_ratio",
            "example_similarity",
            "example_containment",
            "copied_example",
        )
    }
    for text, symptoms, example in zip(batch["text"], batch["symptoms"], batch["example_text"], strict=True):
        if text is None:
            for values in columns.values():
                values.append(None)
            continue
        s = score_note(text, list(symptoms), example, copy_threshold=copy_threshold)
        for name, values in columns.items():
            values.append(getattr(s, name))
    batch.update(columns)
    return batch


def _column(batch: dict[str, Any], name: str, n: int) -> list[Any]:
    value = batch.get(name)
    if value is None:
        return [None] * n
    values = value.tolist() if isinstance(value, np.ndarray) else list(value)
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in values]


def write_shard(batch: Any, shards: Location, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write one batch as a Parquet shard of the run (atomically; see medsyn.pipeline.rundir); return a
    one-row summary. The shard's name derives from its rows, so a retried task replaces its own file."""
    batch = as_columns(batch)
    n = len(batch["row"])
    columns = {}
    for field in NOTES:
        if field.name in provenance:
            columns[field.name] = [provenance[field.name]] * n
        else:
            columns[field.name] = _column(batch, field.name, n)
    rundir.write_shard(shards, pa.Table.from_pydict(columns, schema=NOTES))
    errors = [e for e in columns["error"] if e]
    return {
        "rows": [n],
        "failed": [len(errors)],
        "error_kinds": [[e.split(":", 1)[0].split("(", 1)[0] for e in errors]],
        "completion_tokens": [sum(t or 0 for t in columns["completion_tokens"])],
        "prompt_tokens": [sum(t or 0 for t in columns["prompt_tokens"])],
    }
