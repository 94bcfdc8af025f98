"""Filters on synthetic notes before training; every removal is recorded with its reason (shared by the
generation job's kept set and `medsyn evaluate`).

    kept, funnel, reasons = apply_filters(synthetic, real_train, FilterConfig())

Filters, in order (the ones named in `FilterConfig.filters` run; `failed` always does, and
`test_overlap` whenever test notes are given):
- failed: the generation failed or gave an empty text;
- test_overlap: decontamination: the note copies a test note (5-gram containment in one test note >= the
  bound);
- symptom_recall: the paper's first side: the note mentions too few of its sampled symptoms (with
  `recall_keep_per_code`, each code keeps at least that many notes, its best by recall);
- example_similarity: the paper's second side: the note is too unlike its source example in style
  (character 5-gram Jaccard; the paper used BERTScore precision > 0.70);
- copy_example: the note copies its example (5-gram containment in the example >= the bound);
- copy_real: the note is too close to some real training note (n-gram Jaccard >= the bound);
- near_duplicate: the note near-duplicates an earlier synthetic note (MinHash LSH);
- disagreement: a classifier trained on the real training notes does not rank the note's code in
  its top k (codes the classifier never saw are kept and counted as unjudged);
- kg_consistency: the note names more symptoms that the MKG ties to other codes but not to its own than
  the bound (`medsyn.quality.kg_consistency`).
Only real *training* notes are consulted, and the test notes only to remove copies of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import pyarrow as pa

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError
from medsyn.quality.similarity import NgramIndex, near_duplicates

Filter = Literal[
    "failed",
    "symptom_recall",
    "example_similarity",
    "copy_example",
    "copy_real",
    "near_duplicate",
    "disagreement",
    "kg_consistency",
]
FILTERS: tuple[Filter, ...] = get_args(Filter)
DEFAULT_FILTERS: list[Filter] = ["symptom_recall", "copy_example", "copy_real", "near_duplicate"]


@dataclass
class FilterConfig:
    filters: list[Filter] = option(
        default_factory=lambda: list(DEFAULT_FILTERS),
        help="filters to apply to synthetic notes ('failed' always runs)",
    )
    min_symptom_recall: float = option(0.65, help="symptom_recall: least share of sampled symptoms mentioned")
    recall_keep_per_code: int = option(
        0,
        help="symptom_recall: keep up to this many notes of each code, its best by recall, even below "
        "min_symptom_recall (a code whose MKG symptoms its notes rarely voice is not emptied; a note that "
        "mentions none of them never is kept); 0: off",
    )
    min_example_similarity: float = option(
        0.05, help="example_similarity: least 5-gram Jaccard with the example"
    )
    max_example_containment: float = option(
        0.7, help="copy_example: most share of the note's 5-grams found in its example"
    )
    max_real_similarity: float = option(
        0.6, help="copy_real: most 5-gram Jaccard with any real training note"
    )
    duplicate_threshold: float = option(
        0.8, help="near_duplicate: MinHash Jaccard above which a note is dropped"
    )
    disagreement_top_k: int = option(
        5, help="disagreement: keep a note whose code is in the top k predictions"
    )
    max_off_code_symptoms: int = option(
        0,
        help="kg_consistency: most symptoms a note may name that the MKG ties to other codes, not its own",
    )
    max_test_containment: float = option(
        0.9,
        help="decontamination, with test notes given (--test): most share of a note's 5-grams found in "
        "any one test note (of RuMedTop3's real train notes against dev, a share of 0.377 reach 0.5, 0.142 "
        "reach 0.7, 0.040 reach 0.9: short complaint notes share their phrasing)",
    )

    def __post_init__(self) -> None:
        check_choices(self)
        if self.recall_keep_per_code < 0:
            raise ConfigError(
                f"--recall-keep-per-code must be >= 0 (0: off), got {self.recall_keep_per_code}",
                option="recall_keep_per_code",
            )


@dataclass
class FilterResult:
    kept: pa.Table
    reasons: list[str | None]
    funnel: list[dict[str, Any]] = field(default_factory=list)


def _col(table: pa.Table, name: str) -> list[Any]:
    return table[name].to_pylist() if name in table.column_names else [None] * table.num_rows


def apply_filters(
    synthetic: pa.Table,
    real_texts: list[str],
    config: FilterConfig,
    *,
    real_codes: list[str] | None = None,
    seed: int = 0,
    test_texts: list[str] | None = None,
    symptom_codes: Any = None,
) -> FilterResult:
    """Run the filters over `synthetic` (its text, code and score columns) against the real *training*
    notes; with `test_texts`, first remove the notes that copy a test note (`test_overlap`).
    `symptom_codes` (a `medsyn.quality.kg_consistency.SymptomCodes`): the MKG, for `kg_consistency`."""
    n = synthetic.num_rows
    texts = [t or "" for t in _col(synthetic, "text")]
    codes = _col(synthetic, "code")
    reasons: list[str | None] = [None] * n
    funnel: list[dict[str, Any]] = []

    def alive() -> list[int]:
        return [i for i in range(n) if reasons[i] is None]

    def record(name: str, threshold: Any, bad: list[int], **extra: Any) -> None:
        for i in bad:
            reasons[i] = name
        funnel.append(
            {
                "filter": name,
                "enabled": True,
                "threshold": threshold,
                "removed": len(bad),
                "remaining": len(alive()),
            }
            | extra
        )

    errors = _col(synthetic, "error")
    record("failed", None, [i for i in range(n) if errors[i] or not texts[i].strip()])
    if test_texts:
        from medsyn.quality.decontamination import copies_of_test_notes

        rows = alive()
        t = config.max_test_containment
        copies = copies_of_test_notes([texts[i] for i in rows], test_texts, threshold=t)
        record("test_overlap", t, [i for i, c in zip(rows, copies, strict=True) if c])
    else:
        funnel.append({"filter": "test_overlap", "enabled": False, "removed": 0, "remaining": len(alive())})
    enabled = set(config.filters)
    for name in FILTERS[1:]:
        if name not in enabled:
            funnel.append({"filter": name, "enabled": False, "removed": 0, "remaining": len(alive())})
            continue
        rows = alive()
        if name == "symptom_recall":
            recall = _col(synthetic, "symptom_recall")
            t = config.min_symptom_recall
            low = [i for i in rows if recall[i] is not None and recall[i] < t]
            rescued = _best_per_code(rows, low, codes, recall, config.recall_keep_per_code)
            record(name, t, [i for i in low if i not in rescued], kept_below=len(rescued))
        elif name == "example_similarity":
            sim = _col(synthetic, "example_similarity")
            t = config.min_example_similarity
            record(name, t, [i for i in rows if sim[i] is not None and sim[i] < t])
        elif name == "copy_example":
            cont = _col(synthetic, "example_containment")
            t = config.max_example_containment
            record(name, t, [i for i in rows if cont[i] is not None and cont[i] >= t])
        elif name == "copy_real":
            t = config.max_real_similarity
            if real_texts and rows:
                _, jac, _ = NgramIndex(real_texts).nearest([texts[i] for i in rows])
                record(name, t, [i for i, j in zip(rows, jac, strict=True) if j >= t])
            else:
                record(name, t, [])
        elif name == "near_duplicate":
            t = config.duplicate_threshold
            dup = near_duplicates([texts[i] for i in rows], threshold=t, seed=seed + 1)
            record(name, t, [rows[d] for d in dup])
        elif name == "disagreement":
            bad, unjudged = _disagreement(rows, texts, codes, real_texts, real_codes, config, seed)
            record(name, config.disagreement_top_k, bad, unjudged=unjudged)
        elif name == "kg_consistency":
            if symptom_codes is None:
                raise ConfigError(
                    "the kg_consistency filter needs the MKG: the run's --kg (where its run.json names one)",
                    option="filters",
                )
            t = config.max_off_code_symptoms
            off = [len(symptom_codes.off_code(texts[i], codes[i])) for i in rows]
            record(name, t, [i for i, k in zip(rows, off, strict=True) if k > t])
    kept = synthetic.filter(pa.array([r is None for r in reasons]))
    return FilterResult(kept=kept, reasons=reasons, funnel=funnel)


def _best_per_code(
    rows: list[int], low: list[int], codes: list[Any], recall: list[Any], keep: int
) -> set[int]:
    """Of the `low` rows, those that top each code up to `keep` notes: its best by recall (then row).
    A note that mentions none of its symptoms (recall 0) is never kept: nothing ties it to its code."""
    if keep <= 0 or not low:
        return set()
    lows = set(low)
    have = Counter(codes[i] for i in rows if i not in lows)
    rescued: set[int] = set()
    for i in sorted((i for i in low if recall[i] > 0), key=lambda i: (-recall[i], i)):
        if have[codes[i]] < keep:
            have[codes[i]] += 1
            rescued.add(i)
    return rescued


def _disagreement(
    rows: list[int],
    texts: list[str],
    codes: list[str],
    real_texts: list[str],
    real_codes: list[str] | None,
    config: FilterConfig,
    seed: int,
) -> tuple[list[int], int]:
    """(rows whose code the real-trained classifier ranks below top k, rows it could not judge)."""
    from medsyn.evaluate.classifiers import TfidfClassifier
    from medsyn.evaluate.metrics import rank_of_truth

    if not real_codes or len(set(real_codes)) < 2 or not rows:
        return [], len(rows)
    clf = TfidfClassifier(seed=seed).fit(real_texts, real_codes)
    known = set(clf.classes)
    judged = [i for i in rows if codes[i] in known]
    if not judged:
        return [], len(rows)
    ranks = rank_of_truth(clf.scores([texts[i] for i in judged]), clf.classes, [codes[i] for i in judged])
    bad = [i for i, r in zip(judged, ranks, strict=True) if r >= config.disagreement_top_k]
    return bad, len(rows) - len(judged)
