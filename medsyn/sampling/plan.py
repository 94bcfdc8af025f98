"""The per-note plan: code, symptoms, demographics, example note and template of every row.

    planner = build_planner(kg, notes, PlanConfig(codes=["M54", "I10"], n=100, allocation="uniform"))
    batch = planner.plan(np.arange(0, 100))        # dict of columns; any split of rows gives the same rows

Row i's plan is a pure function of (seed, i, inputs): its randomness comes from `rng.uniform(seed_i,
stream)`, never from a shared generator. The KG and the notes are read once, when the planner is built.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError, UnknownCodeError
from medsyn.kg.store import KGStore
from medsyn.prompts import TEMPLATES, get_template
from medsyn.sampling.allocation import allocate, parse_counts
from medsyn.sampling.rng import row_seeds, uniform

# Streams of a row's randomness (see rng.uniform).
S_COUNT, S_EXAMPLE, S_SEX, S_AGE, S_TEMPLATE, S_OPENING = 0, 1, 2, 3, 4, 5
S_SYMPTOM, S_SHUFFLE = 1_000, 2_000_000


@dataclass
class PlanConfig:
    codes: list[str] = option(
        default_factory=list, help="ICD-10 codes to generate for (default: all codes of the notes)"
    )
    n: int | None = option(None, help="number of notes to plan (the budget)")
    allocation: Literal["paper", "rare", "uniform", "proportional", "explicit"] = option(
        "uniform", help="how the budget is split over the codes"
    )
    counts: str | None = option(
        None, help="explicit per-code counts, e.g. M54=10,I10=5 (allocation explicit)"
    )
    seed: int = option(0, help="run seed: the plan is a pure function of (seed, row, inputs)")
    language: Literal["ru", "en"] = option("ru", help="language of symptoms, titles and templates")
    min_symptoms: int = option(2, help="fewest symptoms per note")
    max_symptoms: int = option(5, help="most symptoms per note")
    symptom_temperature: float = option(1.0, help="sampling temperature on edge weights (>1 flattens)")
    symptom_source: Literal["kg", "example"] = option(
        "kg",
        help="kg: each note's symptoms from its code's MKG edges; example: from those MKG symptoms its "
        "example note mentions (as in the generator's training prompts), the MKG edges where it mentions "
        "fewer than min_symptoms",
    )
    symptom_weights: Literal["kg", "notes"] = option(
        "kg",
        help="kg: sample symptoms by their MKG edge weights; notes: by how many real notes of the code "
        "(--notes) mention each, the MKG weights counting as one more note (codes without notes: the MKG "
        "weights), so that noisy edges no real note of the code mentions are drawn rarely",
    )
    include_subcodes: bool = option(True, help="a category may draw symptoms from its subcodes")
    examples: Literal["same_code", "none"] = option(
        "same_code", help="example note per row: same_code (from --notes) or none"
    )
    example_max_words: int | None = option(
        None,
        help="pick examples of at most this many words (default: the templates' limit, if any; 0: any)",
    )
    opening_words: int | None = option(
        None,
        help="completion form: start each note with the first N words of another real note of its code "
        "(from --notes), so that the notes open as the real ones do, not in the generator's most frequent "
        "way; the engine writes the rest (default: the generator's, else 0 = off)",
    )
    demographics: bool = option(False, help="sample sex and age for each note")
    age_min: int = option(18, help="youngest sampled age")
    age_max: int = option(90, help="oldest sampled age")
    templates: list[str] = option(
        default_factory=lambda: ["paper_main"], help="template names (mixed per row)"
    )
    form: Literal["chat", "completion"] = option(
        "chat", help="prompt form: chat (messages) or completion (plain text)"
    )
    min_words: int = option(30, help="allocation paper: count real notes of at least this many words")
    rare_alpha: float = option(0.5, help="allocation rare: alpha")
    rare_max: int = option(50, help="allocation rare: M, the most notes per code")
    on_missing_symptoms: Literal["skip", "fail"] = option(
        "skip", help="a code without symptoms: skip (recorded) or fail"
    )

    def __post_init__(self) -> None:
        check_choices(self)
        if not 1 <= self.min_symptoms <= self.max_symptoms:
            raise ConfigError(
                f"need 1 <= min_symptoms <= max_symptoms, got {self.min_symptoms} and {self.max_symptoms}",
                option="max_symptoms",
            )
        if self.symptom_temperature <= 0:
            raise ConfigError(
                f"symptom_temperature must be > 0, got {self.symptom_temperature}",
                option="symptom_temperature",
            )
        if not 0 <= self.age_min <= self.age_max <= 120:
            raise ConfigError(
                f"need 0 <= age_min <= age_max <= 120, got {self.age_min} and {self.age_max}",
                option="age_max",
            )
        if not self.templates:
            raise ConfigError(
                f"no templates given; valid: {', '.join(sorted(TEMPLATES))}", option="templates"
            )
        for name in self.templates:
            get_template(name, self.language, self.form)
        if self.opening_words is None:
            self.opening_words = 0
        if self.opening_words < 0:
            raise ConfigError(f"opening_words must be >= 0, got {self.opening_words}", option="opening_words")
        if self.opening_words and self.form != "completion":
            raise ConfigError(
                f"opening_words {self.opening_words} needs form completion (a chat prompt cannot start the "
                f"answer), not {self.form!r}; use --form completion or --opening-words 0",
                option="opening_words",
            )


@dataclass
class CodePlan:
    """What the planner knows of one code: read once from the KG and the notes."""

    code: str
    title: str
    symptoms: list[str]
    weights: np.ndarray
    example_ids: list[str] = field(default_factory=list)
    example_texts: list[str] = field(default_factory=list)
    example_mentions: list[np.ndarray] = field(default_factory=list)  # per example: symptoms it mentions
    opening_ids: list[str] = field(default_factory=list)  # every real note of the code (opening_words)
    openings: list[str] = field(default_factory=list)  # ... its first opening_words words
    example_openings: list[int] = field(default_factory=list)  # per example: its index in opening_ids


def _code_symptoms(kg: KGStore, code: str, config: PlanConfig) -> tuple[list[str], np.ndarray]:
    """Distinct symptom names of `code` in the language, each with its largest edge weight."""
    best: dict[str, float] = {}
    for edge in kg.symptoms(code, language=config.language, include_descendants=config.include_subcodes):
        best[edge.name] = max(best.get(edge.name, 0.0), edge.weight)
    names = sorted(best)
    return names, np.array([best[n] for n in names], dtype=np.float64)


@dataclass
class Planner:
    """Plans rows [0, total): row -> code by the allocation, then symptoms, example, template."""

    config: PlanConfig
    codes: list[CodePlan]
    counts: list[int]
    skipped: dict[str, str]
    fingerprint: str

    def __post_init__(self) -> None:
        self.cumulative = np.cumsum(np.array(self.counts, dtype=np.int64))
        self.total = int(self.cumulative[-1]) if len(self.counts) else 0
        self._powers = [
            np.power(c.weights, 1.0 / self.config.symptom_temperature) if len(c.weights) else c.weights
            for c in self.codes
        ]

    def allocation(self) -> dict[str, int]:
        return {c.code: n for c, n in zip(self.codes, self.counts, strict=True)}

    def plan(self, rows: np.ndarray) -> dict[str, list[Any]]:
        """Plan the given row indices (any subset, any order); returns columns."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.total):
            raise ValueError(f"rows must lie in [0, {self.total})")
        cfg = self.config
        seeds = row_seeds(cfg.seed, rows)
        code_idx = np.searchsorted(self.cumulative, rows, side="right")
        span = cfg.max_symptoms - cfg.min_symptoms + 1
        n_symptoms = cfg.min_symptoms + np.floor(uniform(seeds, S_COUNT) * span).astype(np.int64)
        symptoms: list[list[str]] = [[] for _ in rows]
        example_ids: list[str | None] = [None] * len(rows)
        example_texts: list[str | None] = [None] * len(rows)
        opening_ids: list[str | None] = [None] * len(rows)
        openings: list[str | None] = [None] * len(rows)
        for ci in np.unique(code_idx):
            cp, powers = self.codes[ci], self._powers[ci]
            where = np.nonzero(code_idx == ci)[0]
            s = seeds[where][:, None]
            columns = np.arange(len(cp.symptoms))[None, :]
            k = np.minimum(n_symptoms[where], len(cp.symptoms))
            picks = (
                np.floor(uniform(s[:, 0], S_EXAMPLE) * len(cp.example_ids)).astype(np.int64).tolist()
                if cp.example_ids
                else []
            )
            # Weighted sampling without replacement (Efraimidis-Spirakis): the k largest u^(1/w) ...
            keys = uniform(s, S_SYMPTOM + columns) ** (1.0 / powers[None, :])
            if cp.example_mentions:  # symptom_source example: only what the example mentions, if enough
                for j, pick in enumerate(picks):
                    mask = cp.example_mentions[pick]
                    if mask.sum() >= cfg.min_symptoms:
                        keys[j] = np.where(mask, keys[j], -1.0)
                        k[j] = min(k[j], int(mask.sum()))
            rank = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
            # ... shuffled by a key of their own.
            shuffle = np.where(rank < k[:, None], uniform(s, S_SHUFFLE + columns), np.inf)
            order = np.argsort(shuffle, axis=1, kind="stable")
            names = cp.symptoms
            for j, r in enumerate(where.tolist()):
                symptoms[r] = [names[i] for i in order[j, : k[j]].tolist()]
            if cp.example_ids:
                for j, r in enumerate(where.tolist()):
                    example_ids[r] = cp.example_ids[picks[j]]
                    example_texts[r] = cp.example_texts[picks[j]]
            if cp.openings:  # uniform over the code's notes but the row's example (unless it is the only one)
                n, u = len(cp.openings), uniform(s[:, 0], S_OPENING)
                if cp.example_openings and n > 1:
                    pick = np.floor(u * (n - 1)).astype(np.int64)
                    pick += pick >= np.asarray(cp.example_openings, dtype=np.int64)[picks]
                else:
                    pick = np.floor(u * n).astype(np.int64)
                for j, r in enumerate(where.tolist()):
                    opening_ids[r], openings[r] = cp.opening_ids[pick[j]], cp.openings[pick[j]]
        template_pick = np.floor(uniform(seeds, S_TEMPLATE) * len(cfg.templates)).astype(np.int64)
        templates = []
        for r in range(len(rows)):
            template = get_template(cfg.templates[template_pick[r]], cfg.language, cfg.form)
            if template.requires_example and example_ids[r] is None:
                template = get_template(template.fallback or "baseline_symptoms", cfg.language, cfg.form)
            templates.append(template.id)
        if cfg.demographics:
            sexes: list[str | None] = np.where(uniform(seeds, S_SEX) < 0.5, "female", "male").tolist()
            ages: list[int | None] = (
                (cfg.age_min + np.floor(uniform(seeds, S_AGE) * (cfg.age_max - cfg.age_min + 1)))
                .astype(int)
                .tolist()
            )
        else:
            sexes, ages = [None] * len(rows), [None] * len(rows)
        return {
            "row": rows.tolist(),
            "note_id": [f"{self.fingerprint[:8]}-{r:09d}" for r in rows.tolist()],
            "code": [self.codes[i].code for i in code_idx],
            "title": [self.codes[i].title for i in code_idx],
            "language": [cfg.language] * len(rows),
            "symptoms": symptoms,
            "sex": sexes,
            "age": ages,
            "example_id": example_ids,
            "example_text": example_texts,
            "opening_id": opening_ids,
            "opening": openings,
            "template_id": templates,
            "seed": (seeds >> np.uint64(1)).astype(np.int64).tolist(),
        }


def opening(text: str, words: int) -> str:
    """The first `words` words of a note."""
    return " ".join(text.split()[:words])


def _example_max_words(config: PlanConfig) -> int:
    """The longest example to pick (0: any): the option, else the tightest limit of the templates."""
    if config.example_max_words is not None:
        return config.example_max_words
    limits = [
        t.example_max_words
        for name in config.templates
        if (t := get_template(name, config.language, config.form)).example_max_words
    ]
    return min(limits) if limits else 0


def build_planner(kg: KGStore, notes: pa.Table | None, config: PlanConfig) -> Planner:
    """Read what planning needs from the KG and the notes (once) and allocate the budget."""
    if config.symptom_weights == "notes" and notes is None:
        raise ConfigError(
            "symptom_weights 'notes' weighs symptoms by the real notes that mention them: give the notes "
            "(--notes FILE) or use --symptom-weights kg",
            option="symptom_weights",
        )
    note_codes = notes["code"].to_pylist() if notes is not None else []
    note_texts = notes["text"].to_pylist() if notes is not None else []
    note_ids = notes["note_id"].to_pylist() if notes is not None else []
    codes = [c.strip().upper() for c in config.codes] or sorted(set(note_codes))
    if not codes:  # neither --codes nor --notes: every category of the KG with symptoms in the language
        codes = [
            c
            for c in kg.codes("category")
            if kg.symptoms(c, language=config.language, include_descendants=config.include_subcodes)
        ]
    if not codes:
        raise ConfigError(
            f"no codes: pass --codes LIST or --notes FILE (no category of the KG {kg.location()} has "
            f"{config.language} symptoms)",
            option="codes",
        )
    unknown = [c for c in codes if not kg.has(c)]
    if unknown:
        hints = "; ".join(str(UnknownCodeError(c, kg.suggest(c))) for c in unknown)
        raise ConfigError(f"{len(unknown)} code(s) not in the KG {kg.location()}: {hints}", option="codes")
    codes = list(dict.fromkeys(codes))
    real = Counter(note_codes)
    long = Counter(
        c for c, t in zip(note_codes, note_texts, strict=True) if len(t.split()) >= config.min_words
    )
    per_code, skipped = [], {}
    cap = _example_max_words(config)
    by_code: dict[str, list[int]] = {}  # the examples of each code: its notes within the length cap
    every_by_code: dict[str, list[int]] = {}  # all its notes (openings, symptom weights)
    for i, c in enumerate(note_codes):
        if not cap or len(note_texts[i].split()) <= cap:
            by_code.setdefault(c, []).append(i)
        every_by_code.setdefault(c, []).append(i)
    for code in codes:
        names, weights = _code_symptoms(kg, code, config)
        if config.symptom_weights == "notes" and names:
            weights = _weights_from_notes(
                weights, [note_texts[i] for i in every_by_code.get(code, [])], names
            )
        if not names:
            reason = f"no {config.language} symptoms in the KG"
            if config.on_missing_symptoms == "fail":
                raise ConfigError(
                    f"code {code}: {reason} (use --on-missing-symptoms skip to skip it)", option="codes"
                )
            skipped[code] = reason
            continue
        idx = by_code.get(code, []) if config.examples == "same_code" else []
        texts = [note_texts[i] for i in idx]
        every = every_by_code.get(code, []) if config.opening_words else []
        position = {note: k for k, note in enumerate(every)}
        per_code.append(
            CodePlan(
                code=code,
                title=kg.disease(code).title(config.language) or code,
                symptoms=names,
                weights=weights,
                example_ids=[note_ids[i] for i in idx],
                example_texts=texts,
                example_mentions=_mentioned(texts, names) if config.symptom_source == "example" else [],
                opening_ids=[note_ids[i] for i in every],
                openings=[opening(note_texts[i], config.opening_words or 0) for i in every],
                example_openings=[position[i] for i in idx] if every else [],
            )
        )
    if not per_code:
        raise ConfigError(f"none of the codes has symptoms to sample: {skipped}", option="codes")
    kept = [c.code for c in per_code]
    counts = allocate(
        kept,
        config.n,
        config.allocation,
        real_counts=real,
        long_counts=long,
        kg_symptoms={c.code: len(c.symptoms) for c in per_code},
        explicit=parse_counts(config.counts) if config.counts else None,
        alpha=config.rare_alpha,
        max_per_code=config.rare_max,
    )
    if config.allocation == "explicit" and config.counts:
        extra = sorted(set(parse_counts(config.counts)) - set(codes))
        if extra:
            raise ConfigError(f"explicit counts name codes not in --codes: {extra}", option="counts")
    fingerprint = plan_fingerprint(config, per_code)
    return Planner(config, per_code, [counts[c] for c in kept], skipped, fingerprint)


def _weights_from_notes(kg_weights: np.ndarray, texts: list[str], symptoms: list[str]) -> np.ndarray:
    """Per symptom: the real notes that mention it, plus its share of the MKG weights (one note's worth)."""
    prior = (
        kg_weights / kg_weights.sum() if kg_weights.sum() > 0 else np.full(len(symptoms), 1 / len(symptoms))
    )
    if not texts:
        return prior
    return np.sum(_mentioned(texts, symptoms), axis=0) + prior


def _mentioned(texts: list[str], symptoms: list[str]) -> list[np.ndarray]:
    """For each text, which of `symptoms` it mentions (the symptom-recall matcher)."""
    from medsyn.quality.scores import mentions
    from medsyn.quality.text import tokens

    out = []
    for text in texts:
        words = tokens(text)
        out.append(np.array([mentions(words, s) for s in symptoms], dtype=bool))
    return out


def plan_fingerprint(config: PlanConfig, codes: list[CodePlan]) -> str:
    """A hash of everything a plan depends on (not where the KG is stored): a resumed run must match it."""
    h = hashlib.sha256()
    settings = asdict(config)
    if settings.get("symptom_source") == "kg":  # the default: absent, as in plans made before the option
        del settings["symptom_source"]
    if settings.get("symptom_weights") == "kg":  # likewise
        del settings["symptom_weights"]
    if not settings.get("opening_words"):  # likewise
        settings.pop("opening_words", None)
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for c in codes:
        h.update(json.dumps([c.code, c.title, c.symptoms, c.weights.tolist(), c.example_ids]).encode())
        if c.opening_ids:
            h.update(json.dumps([c.opening_ids, c.openings], ensure_ascii=False).encode())
        for text in c.example_texts:
            h.update(hashlib.sha1(text.encode()).digest())
    return h.hexdigest()
