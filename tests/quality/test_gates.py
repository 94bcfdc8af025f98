"""Quality gates on hand-made real and generated notes, each value counted by hand."""

from __future__ import annotations

import pyarrow as pa
import pytest

from medsyn.quality.gates import GateTargets, RealReference, gate_lines, is_degenerate, quality_gates
from medsyn.quality.text import tokens

REAL = pa.table(
    {
        "note_id": [f"r{i}" for i in range(8)],
        "code": ["J06"] * 4 + ["K29"] * 4,
        "text": [
            "Насморк, боль в горле, температура 37.5 второй день.",
            "Кашель и чихание, слабость, заложенность носа третий день.",
            "Боль в горле при глотании, насморк и кашель с утра.",
            "Температура 38, ломота в теле, насморк, слабость и головная боль.",
            "Боли в эпигастрии после еды, изжога, тошнота по утрам.",
            "Изжога и отрыжка кислым, тяжесть в животе после еды.",
            "Тошнота, горечь во рту, боли в эпигастрии натощак.",
            "Жалобы на изжогу, вздутие живота и тяжесть после еды.",
        ],
    }
)
GOOD_J06 = "Насморк и кашель, боль в горле, слабость второй день."
GOOD_K29 = "Изжога и тошнота, боли в эпигастрии после еды."
GIBBERISH = "Одиной стило победительное меньевостроительное угодно тракобесие"
LOOP = "боль в горле и боль в горле и боль в горле и боль в горле"
COPY = REAL["text"][4].as_py()  # a real K29 note, word for word


def _generated(rows: list[tuple[str, str | None, float | None, bool, str | None]]) -> pa.Table:
    return pa.table(
        {
            "code": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "symptom_recall": [r[2] for r in rows],
            "copied_example": [r[3] for r in rows],
            "error": [r[4] for r in rows],
        }
    )


@pytest.fixture(scope="module")
def reference() -> RealReference:
    return RealReference.build(REAL, ["Острые инфекции верхних дыхательных путей", "Гастрит и дуоденит"])


def test_each_gate_counted_by_hand(reference: RealReference) -> None:
    generated = _generated(
        [
            ("J06", GOOD_J06, 1.0, False, None),
            ("K29", GOOD_K29, 0.5, False, None),
            ("J06", GIBBERISH, 0.0, False, None),
            ("J06", LOOP, 0.5, False, None),
            ("K29", COPY, 1.0, True, None),  # copies its example, and a real note
            ("J06", None, None, False, "timeout"),  # a failed row: counted apart, judged nowhere
        ]
    )
    g = quality_gates(generated, reference)
    assert (g["n"], g["n_text"], g["failed"]) == (6, 5, 1)
    # Language: the gibberish alone has under 70% known words (the loop's words are all real ones).
    assert g["language"]["value"] == pytest.approx(4 / 5)
    assert g["degenerate"]["value"] == pytest.approx(1 / 5)
    # 5 notes are too few to judge a share whose target leaves 2-3% of room: no verdict, and it says so.
    assert g["language"]["too_few"] == {"n": 5, "needs": 50} and g["language"]["passed"] is None
    assert g["degenerate"]["too_few"] == {"n": 5, "needs": 34} and g["degenerate"]["passed"] is None
    assert g["symptom_recall"]["value"] == pytest.approx((1.0 + 0.5 + 0.0 + 0.5 + 1.0) / 5)
    # The copy is caught twice (example flag and the real-note index), counted once.
    assert g["copy_rate"]["value"] == pytest.approx(1 / 5)
    assert g["copy_rate"]["example"] == pytest.approx(1 / 5) and g["copy_rate"]["real"] == pytest.approx(
        1 / 5
    )
    # The real-trained classifier recognises good notes of both codes (2 codes: top 3 holds both, so
    # every judged note agrees); 5 notes judged.
    assert g["classifier_agreement"]["judged"] == 5
    assert g["classifier_agreement"]["value"] == 1.0
    # Length: each note's percentile among its code's real notes, the median of those.
    lengths = {
        c: sorted(
            len(tokens(t))
            for t, cc in zip(REAL["text"].to_pylist(), REAL["code"].to_pylist(), strict=True)
            if cc == c
        )
        for c in ("J06", "K29")
    }
    pct = sorted(
        sum(x <= len(tokens(text)) for x in lengths[code]) / 4
        for code, text in [
            ("J06", GOOD_J06),
            ("K29", GOOD_K29),
            ("J06", GIBBERISH),
            ("J06", LOOP),
            ("K29", COPY),
        ]
    )
    assert g["length"]["value"] == pytest.approx(pct[2])
    assert g["passed"] is None  # not judged: too few notes for the share gates
    verdicts = {row[0]: row[3] for row in gate_lines(g)}
    assert verdicts["degenerate"] == "too few notes to judge (n=5, needs 34)"
    # Realism: the 5 notes with text against the 8 real notes of their codes (J06 and K29), reported.
    assert (g["realism"]["generated"], g["realism"]["real"]) == (5, 8) and 0 <= g["realism"]["value"] <= 1
    assert [row[0] for row in gate_lines(g)][-2:] == ["realism", "diversity"]


def test_drift_counts_the_notes_the_classifier_gives_to_a_frequent_code(
    reference: RealReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medsyn.quality import gates

    # Two codes: both are among the 10 most frequent, so no note can drift: the gate does not apply.
    g = quality_gates(_generated([("K29", GOOD_K29, 1.0, False, None)]), reference)
    assert g["drift"]["applicable"] is False and g["drift"]["judged"] == 0 and g["drift"]["passed"] is None
    monkeypatch.setattr(gates, "FREQUENT_CODES", 1)  # now only J06 (listed first, as many notes) is frequent
    notes = _generated(
        [
            ("K29", GOOD_K29, 1.0, False, None),
            ("K29", GOOD_J06, 1.0, False, None),
            ("J06", GOOD_J06, 1.0, False, None),
        ]
    )
    held_out = (["Изжога после еды.", "Насморк и кашель.", "Кашель."], ["K29", "K29", "J06"])
    g = quality_gates(notes, reference, held_out=held_out)
    assert g["drift"]["frequent_codes"] == ["J06"] and g["drift"]["judged"] == 2  # the J06 note is not judged
    assert g["drift"]["value"] == pytest.approx(1 / 2) and g["drift"]["too_few"] == {"n": 2, "needs": 3}
    # A target of <= 0.5 leaves room for one note in two: 2 notes are judged (and 0.5 passes it).
    g = quality_gates(notes, reference, held_out=held_out, targets=GateTargets(drift=0.5))
    assert g["drift"]["passed"] is True and "too_few" not in g["drift"]
    assert g["drift"]["real"] == pytest.approx(1 / 2) and g["drift"]["real_judged"] == 2
    line = next(row for row in gate_lines(g) if row[0] == "drift")
    assert line[1] == "0.500 (real notes 0.500)" and line[3] == "pass"


def test_enough_notes_get_a_verdict_at_the_targets_edge(reference: RealReference) -> None:
    """50 notes judge the language gate (>= 0.98): one note off passes, two fail."""
    one_off = _generated([("J06", GOOD_J06, 1.0, False, None)] * 49 + [("J06", GIBBERISH, 1.0, False, None)])
    two_off = _generated(
        [("J06", GOOD_J06, 1.0, False, None)] * 48 + [("J06", GIBBERISH, 1.0, False, None)] * 2
    )
    assert quality_gates(one_off, reference)["language"]["passed"] is True
    g = quality_gates(two_off, reference)
    assert g["language"]["passed"] is False and "too_few" not in g["language"]


def test_good_notes_pass_and_without_reference_gates_are_unjudged(reference: RealReference) -> None:
    good = _generated([("J06", GOOD_J06, 1.0, False, None), ("K29", GOOD_K29, 1.0, False, None)])
    g = quality_gates(good, reference)
    assert g["language"]["too_few"] == {"n": 2, "needs": 50} and g["copy_rate"]["too_few"]["needs"] == 50
    assert g["diversity"]["near_duplicates"] == 0.0 and 0 < g["diversity"]["distinct_2"] <= 1
    bare = quality_gates(good, None)
    assert bare["language"]["value"] is None and "--notes" in bare["language"]["reason"]
    assert bare["classifier_agreement"]["value"] is None and bare["passed"] is None
    assert bare["realism"]["value"] is None and "--notes" in bare["realism"]["reason"]
    assert bare["degenerate"]["value"] == 0.0


def test_a_borrowed_opening_does_not_count_towards_agreement(reference: RealReference) -> None:
    """A note opened with a real note's words (--opening-words) is judged on its own words: a note that
    is nothing but the borrowed opening agrees as a whole note (the words are a real K29 note's) and not
    on its own words (it has none)."""
    opening = "Изжога и отрыжка кислым"
    notes = pa.table(
        {
            "code": ["K29", "K29"],
            "text": [f"{opening}, {GOOD_K29}", opening],
            "opening": [opening, opening],
        }
    )
    gates = quality_gates(notes, reference)
    agreement = gates["classifier_agreement"]
    assert agreement["whole_note"] == 1.0
    assert ("classifier_agreement", "0.500 (own words; whole note 1.000)") in [
        r[:2] for r in gate_lines(gates)
    ]
    assert agreement["value"] == 0.5 and agreement["judged"] == 2
    assert "own words" in agreement["judged_on"]
    # Without openings, nothing changes: no second figure.
    assert "whole_note" not in quality_gates(notes.drop(["opening"]), reference)["classifier_agreement"]


def test_degenerate_and_real_notes() -> None:
    assert is_degenerate(tokens(LOOP))
    assert not is_degenerate(tokens(GOOD_J06))
    assert is_degenerate(tokens("да " * 20))
    # Real notes are not flagged.
    assert not any(is_degenerate(tokens(t)) for t in REAL["text"].to_pylist())


def test_the_reference_classifier_stands_in_only_for_the_same_fit() -> None:
    """The evaluation's `real` configuration reuses the gates' classifier: only for the same notes in the
    same order, settings and seed, where a fit of its own ranks every test note exactly the same."""
    from medsyn.evaluate.experiment import fit_and_rank
    from medsyn.evaluate.metrics import rank_of_truth
    from medsyn.quality.classifier import TfidfConfig

    i10 = ["Головная боль в затылке и шум в ушах.", "Давление 160/100, головокружение, мушки перед глазами."]
    real = pa.concat_tables([REAL, pa.table({"note_id": ["r8", "r9"], "code": ["I10", "I10"], "text": i10})])
    reference = RealReference.build(real, seed=3)
    texts, codes = real["text"].to_pylist(), real["code"].to_pylist()
    clf = reference.classifier_for(texts, codes, TfidfConfig(), 3)
    assert clf is reference.classifier
    test_texts = [GOOD_J06, GOOD_K29, "Шум в ушах и головная боль.", "Сыпь на коже."]
    test_codes = ["J06", "K29", "I10", "L70"]
    reused = rank_of_truth(clf.scores(test_texts), clf.classes, test_codes)
    assert reused.tolist() == fit_and_rank(texts, codes, test_texts, test_codes, TfidfConfig(), 3).tolist()
    assert (reused[:3] >= 0).all() and reused[3] == -1  # an unseen code has no rank
    # Anything else trains its own.
    assert reference.classifier_for(texts, codes, TfidfConfig(), 4) is None
    assert reference.classifier_for(texts, codes, TfidfConfig(c=1.0), 3) is None
    assert reference.classifier_for(texts[::-1], codes[::-1], TfidfConfig(), 3) is None
    assert reference.classifier_for(texts[:-1], codes[:-1], TfidfConfig(), 3) is None


def test_kg_consistency_counts_notes_naming_another_codes_symptoms_beside_real_notes() -> None:
    from medsyn.quality.gates import gate_lines
    from medsyn.quality.kg_consistency import SymptomCodes

    reference = RealReference.build(REAL)
    generated = _generated(
        [("K29", GOOD_K29, 1.0, False, None), ("K29", GOOD_K29 + " Насморк.", 1.0, False, None)]
    )
    assert (
        quality_gates(generated, reference)["kg_consistency"]["reason"] == "needs the MKG and the real notes"
    )
    reference.symptom_codes = SymptomCodes({"насморк": {"J06"}, "изжога": {"K29"}, "тошнота": {"K29"}})
    gate = quality_gates(generated, reference)["kg_consistency"]
    assert gate["value"] == 0.5  # the second note names J06's "насморк"
    assert gate["real"] == 0.0  # no real K29 note does
    assert gate["applicable"] is False  # reported, never a verdict
    assert quality_gates(generated, reference)["passed"] is not False
    row = next(r for r in gate_lines(quality_gates(generated, reference)) if r[0] == "kg_consistency")
    assert row[1] == "0.500 (real notes 0.000)"
