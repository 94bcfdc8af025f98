"""Each filter on hand-made notes: which note goes, and why; only training notes are consulted."""

from __future__ import annotations

import pyarrow as pa
import pytest

from medsyn.errors import MedsynError
from medsyn.quality.filters import FILTERS, FilterConfig, apply_filters

REAL = [
    "Боль в горле и насморк третий день, температура 38.",
    "Боль в пояснице после подъема тяжести, отдает в ногу.",
    "Давление поднимается до 160, головная боль в затылке.",
]
COUGH = "Кашель с мокротой неделю, слабость, потливость по ночам, одышка при ходьбе."
ROWS = [
    # note_id, text, error, symptom_recall, example_similarity, example_containment -> expected reason
    ("s0", None, "APITimeoutError: timed out", None, None, None, "failed"),
    ("s1", "   ", None, 1.0, 0.2, 0.1, "failed"),
    ("s2", "Болит живот после еды.", None, 0.5, 0.2, 0.1, "symptom_recall"),  # 0.5 < 0.65
    ("s3", "Жалобы на изжогу и отрыжку.", None, 1.0, 0.01, 0.1, "example_similarity"),  # 0.01 < 0.05
    ("s4", "Насморк, боль в горле, температура.", None, None, 0.6, 0.9, "copy_example"),  # 0.9 >= 0.7
    ("s5", REAL[0], None, 1.0, 0.2, 0.3, "copy_real"),  # Jaccard 1.0 with a real note
    ("s6", COUGH, None, 1.0, 0.2, 0.1, None),
    ("s7", COUGH.replace("неделю", "неделю,"), None, 1.0, 0.2, 0.1, "near_duplicate"),  # same 5-grams as s6
    ("s8", "Головокружение при вставании, шум в ушах, тошнота по утрам.", None, 0.8, None, None, None),
]


def _table() -> pa.Table:
    cols = ["note_id", "text", "error", "symptom_recall", "example_similarity", "example_containment"]
    return pa.table({c: [r[i] for r in ROWS] for i, c in enumerate(cols)} | {"code": ["J06"] * len(ROWS)})


def test_each_filter_removes_its_note_and_the_funnel_adds_up() -> None:
    config = FilterConfig(
        filters=[f for f in FILTERS if f not in ("failed", "disagreement", "kg_consistency")]
    )
    result = apply_filters(_table(), REAL, config)
    assert result.reasons == [r[-1] for r in ROWS]
    assert result.kept["note_id"].to_pylist() == ["s6", "s8"]
    funnel = {step["filter"]: step for step in result.funnel}
    assert [s["filter"] for s in result.funnel] == ["failed", "test_overlap", *FILTERS[1:]]
    removed = {name: step["removed"] for name, step in funnel.items()}
    assert removed == {
        "failed": 2,
        "test_overlap": 0,  # no test notes given: off
        "symptom_recall": 1,
        "example_similarity": 1,
        "copy_example": 1,
        "copy_real": 1,
        "near_duplicate": 1,
        "disagreement": 0,
        "kg_consistency": 0,
    }
    assert funnel["disagreement"]["enabled"] is False and funnel["test_overlap"]["enabled"] is False
    assert [s["remaining"] for s in result.funnel] == [7, 7, 6, 5, 4, 3, 2, 2, 2]


def test_the_kg_consistency_filter_drops_notes_naming_another_codes_symptoms() -> None:
    """A haemorrhoids note that speaks of lumbar pain names an MKG symptom of M54's, not of K64's."""
    from medsyn.errors import ConfigError
    from medsyn.quality.kg_consistency import SymptomCodes

    index = SymptomCodes({"боль в пояснице": {"M54"}, "кровотечение": {"K64"}, "зуд": {"K64", "L29"}})
    table = pa.table(
        {
            "note_id": ["a", "b", "c"],
            "code": ["K64", "K64", "M54.5"],
            "text": ["Кровотечение и зуд после стула.", "Боли в пояснице, кровотечение.", "Боль в пояснице."],
        }
    )
    assert index.off_code(table["text"][1].as_py(), "K64") == ["боль в пояснице"]
    assert index.off_code(table["text"][2].as_py(), "M54.5") == []  # its category's symptom
    config = FilterConfig(filters=["kg_consistency"])
    result = apply_filters(table, [], config, symptom_codes=index)
    assert result.reasons == [None, "kg_consistency", None]
    assert apply_filters(
        table, [], FilterConfig(filters=["kg_consistency"], max_off_code_symptoms=1), symptom_codes=index
    ).reasons == [None, None, None]
    with pytest.raises(ConfigError, match="kg_consistency filter needs the MKG"):
        apply_filters(table, [], config)


def test_switched_off_filters_keep_their_notes() -> None:
    result = apply_filters(_table(), REAL, FilterConfig(filters=[]))
    # Only failed generations go when every filter is off.
    assert result.kept.num_rows == 7 and result.reasons.count("failed") == 2
    with pytest.raises(
        MedsynError, match=r"option 'filters': \['bertscore'\] is not valid; use any of failed"
    ):
        FilterConfig(filters=["bertscore"])


def test_recall_keep_per_code_keeps_each_codes_best_notes() -> None:
    # A00: every note below 0.65; B00: one above. Keep 2 per code: A00 keeps its best two (0.5, 0.3),
    # B00 its one above plus its best below (0.2 ties with 0.2 of a later row: the earlier row goes first);
    # C00's only note mentions none of its symptoms: never kept.
    rows = [("A00", 0.1), ("A00", 0.5), ("A00", 0.3), ("B00", 0.9), ("B00", 0.2), ("B00", 0.2), ("C00", 0.0)]
    table = pa.table(
        {
            "note_id": [f"n{i}" for i in range(len(rows))],
            "code": [c for c, _ in rows],
            "text": [f"Жалобы на боль номер {i}, слабость и разное {i * 7}." for i in range(len(rows))],
            "symptom_recall": [r for _, r in rows],
        }
    )
    plain = apply_filters(table, REAL, FilterConfig(filters=["symptom_recall"]))
    assert plain.kept["note_id"].to_pylist() == ["n3"]
    kept = apply_filters(table, REAL, FilterConfig(filters=["symptom_recall"], recall_keep_per_code=2))
    assert kept.kept["note_id"].to_pylist() == ["n1", "n2", "n3", "n4"]
    step = next(s for s in kept.funnel if s["filter"] == "symptom_recall")
    assert (step["removed"], step["kept_below"]) == (3, 3)
    with pytest.raises(MedsynError, match="--recall-keep-per-code must be >= 0"):
        FilterConfig(recall_keep_per_code=-1)


def test_disagreement_filter_uses_a_classifier_trained_on_real_notes() -> None:
    real = ["боль в горле насморк кашель"] * 4 + ["боль в пояснице отдает в ногу"] * 4
    codes = ["J06"] * 4 + ["M54"] * 4
    syn = pa.table(
        {
            "note_id": ["a", "b", "c"],
            "code": ["J06", "J06", "Z99"],
            "text": ["насморк и боль в горле", "боль в пояснице и в ноге", "что-то иное"],
            "error": [None, None, None],
        }
    )
    config = FilterConfig(filters=["disagreement"], disagreement_top_k=1)
    result = apply_filters(syn, real, config, real_codes=codes)
    # b reads like M54 but claims J06: the real-trained classifier ranks J06 second -> removed.
    # c's code is unknown to the classifier: kept and counted as unjudged.
    assert result.reasons == [None, "disagreement", None]
    step = next(s for s in result.funnel if s["filter"] == "disagreement")
    assert step["removed"] == 1 and step["unjudged"] == 1
