"""The per-row plan: determinism, batch independence, and what each row may contain."""

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from medsyn.errors import MedsynError
from medsyn.kg import KGStore, open_kg
from medsyn.sampling import PlanConfig, build_planner

NOTES = pa.table(
    {
        "note_id": ["n1", "n2", "n3"],
        "code": ["J06", "J06", "M54"],
        "text": ["Насморк и боль в горле.", "Кашель, температура 38.", "Боль в пояснице после нагрузки."],
    }
)


@pytest.fixture(scope="module")
def demo() -> KGStore:
    return open_kg("demo")


def _config(**kw) -> PlanConfig:  # type: ignore[no-untyped-def]
    base = {"codes": ["J06", "M54", "I10"], "n": 300, "allocation": "uniform", "seed": 7}
    return PlanConfig(**{**base, **kw})


def test_plan_is_a_pure_function_of_seed_row_and_inputs(demo: KGStore) -> None:
    a = build_planner(demo, NOTES, _config())
    b = build_planner(demo, NOTES, _config())
    rows = np.arange(a.total)
    whole = a.plan(rows)
    assert whole == b.plan(rows)
    # Any batching, any order: the same rows.
    parts = [a.plan(chunk) for chunk in np.array_split(rows[::-1], 7)]
    by_row = {r: i for part in parts for i, r in enumerate(part["row"])}
    for i, row in enumerate(whole["row"]):
        part = next(p for p in parts if row in p["row"])
        j = part["row"].index(row)
        for column in whole:
            assert whole[column][i] == part[column][j], (column, row)
    assert len(by_row) == a.total
    other = build_planner(demo, NOTES, _config(seed=8)).plan(rows)
    assert other["symptoms"] != whole["symptoms"]
    assert a.fingerprint != build_planner(demo, NOTES, _config(seed=8)).fingerprint


def test_rows_follow_the_allocation(demo: KGStore) -> None:
    planner = build_planner(demo, NOTES, _config(n=10))
    assert planner.allocation() == {"J06": 4, "M54": 3, "I10": 3}
    plan = planner.plan(np.arange(10))
    assert Counter(plan["code"]) == {"J06": 4, "M54": 3, "I10": 3}
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 10\)"):
        planner.plan(np.array([10]))


def test_symptoms_sampled_from_the_code(demo: KGStore) -> None:
    planner = build_planner(demo, NOTES, _config(min_symptoms=2, max_symptoms=4))
    plan = planner.plan(np.arange(planner.total))
    allowed = {
        c: {e.name for e in demo.symptoms(c, language="ru", include_descendants=True)}
        for c in planner.allocation()
    }
    sizes = Counter()
    for code, symptoms in zip(plan["code"], plan["symptoms"], strict=True):
        assert 2 <= len(symptoms) <= 4
        assert len(set(symptoms)) == len(symptoms)
        assert set(symptoms) <= allowed[code]
        sizes[len(symptoms)] += 1
    assert set(sizes) == {2, 3, 4}
    # A category draws from its subcodes too (M54.5's 'боль в пояснице'), unless told not to.
    m54 = [s for c, ss in zip(plan["code"], plan["symptoms"], strict=True) if c == "M54" for s in ss]
    assert "боль в пояснице" in m54
    no_sub = build_planner(demo, NOTES, _config(include_subcodes=False))
    m54_own = [
        s
        for c, ss in zip(*(no_sub.plan(np.arange(300))[k] for k in ("code", "symptoms")), strict=True)
        if c == "M54"
        for s in ss
    ]
    assert "боль в пояснице" not in m54_own


def test_weights_and_temperature(demo: KGStore) -> None:
    # J06 in the demo KG: насморк 5 ... ломота в теле 1. Heavier symptoms are drawn more often; a high
    # temperature flattens the difference.
    cfg = _config(codes=["J06"], n=3000, min_symptoms=2, max_symptoms=2)
    counts = Counter(
        s for ss in build_planner(demo, NOTES, cfg).plan(np.arange(3000))["symptoms"] for s in ss
    )
    assert counts["насморк"] > 2 * counts["ломота в теле"]
    flat = _config(codes=["J06"], n=3000, min_symptoms=2, max_symptoms=2, symptom_temperature=100.0)
    flat_counts = Counter(
        s for ss in build_planner(demo, NOTES, flat).plan(np.arange(3000))["symptoms"] for s in ss
    )
    assert flat_counts["насморк"] < 1.3 * flat_counts["ломота в теле"]


def test_examples_templates_and_demographics(demo: KGStore) -> None:
    planner = build_planner(demo, NOTES, _config(demographics=True, age_min=30, age_max=40))
    plan = planner.plan(np.arange(planner.total))
    for code, example_id, text, template in zip(
        plan["code"], plan["example_id"], plan["example_text"], plan["template_id"], strict=True
    ):
        if code == "J06":
            assert example_id in {"n1", "n2"} and text in NOTES["text"].to_pylist()
            assert template == "paper_main.ru.chat.v1"
        elif code == "M54":
            assert example_id == "n3"
        else:  # I10 has no real note: the template falls back to the symptoms-only baseline
            assert example_id is None and template == "baseline_symptoms.ru.chat.v1"
    assert {"n1", "n2"} == {e for c, e in zip(plan["code"], plan["example_id"], strict=True) if c == "J06"}
    assert set(plan["sex"]) == {"female", "male"}
    assert min(plan["age"]) >= 30 and max(plan["age"]) <= 40
    none = build_planner(demo, NOTES, _config(examples="none")).plan(np.arange(5))
    assert none["example_id"] == [None] * 5


def test_examples_respect_a_word_limit(demo: KGStore) -> None:
    """--example-max-words (default: the template's `example_max_words`) keeps longer notes out of
    prompts; a code left without a short enough example falls back to the template's fallback."""

    def examples(**kw) -> dict[str, set]:  # type: ignore[no-untyped-def]
        plan = build_planner(demo, NOTES, _config(**kw)).plan(np.arange(300))
        out: dict[str, set] = {}
        for code, example_id, template in zip(
            plan["code"], plan["example_id"], plan["template_id"], strict=True
        ):
            out.setdefault(code, set()).add((example_id, template.split(".")[0]))
        return out

    assert examples(example_max_words=3)["J06"] == {("n2", "paper_main")}  # n1 has 5 words, n2 3
    assert examples(example_max_words=3)["M54"] == {(None, "baseline_symptoms")}
    assert examples(example_max_words=0)["M54"] == {("n3", "paper_main")}  # 0: any length
    # The shipped generator's template declares 40 words: a 41-word note is never its example.
    long = pa.table({"note_id": ["x"], "code": ["M54"], "text": [" ".join(["боль"] * 41)]})
    plan = build_planner(demo, long, _config(templates=["instruction_note_example"], form="completion")).plan(
        np.arange(300)
    )
    m54 = {t for c, t in zip(plan["code"], plan["template_id"], strict=True) if c == "M54"}
    assert m54 == {"instruction_note.ru.completion.v1"}


def test_symptoms_from_what_the_example_mentions(demo: KGStore) -> None:
    """symptom_source example: a row whose example mentions at least min_symptoms of its code's MKG
    symptoms gets only those; other rows (too few mentions, no example) sample the MKG as before."""
    kg_plan = build_planner(demo, NOTES, _config())
    planner = build_planner(demo, NOTES, _config(symptom_source="example"))
    assert planner.fingerprint != kg_plan.fingerprint
    plan = planner.plan(np.arange(300))
    rows = list(zip(plan["example_id"], plan["symptoms"], strict=True))
    n1 = [set(s) for e, s in rows if e == "n1"]  # "Насморк и боль в горле.": 2 MKG symptoms
    assert n1 and all(s == {"насморк", "боль в горле"} for s in n1)
    n2 = [set(s) for e, s in rows if e == "n2"]  # "Кашель, температура 38.": 1 (< min_symptoms 2)
    assert n2 and any(s - {"кашель"} for s in n2) and all(len(s) >= 2 for s in n2)
    no_example = [s for e, s in rows if e is None]  # I10: no example, the MKG as with source kg
    kg_rows = kg_plan.plan(np.arange(300))
    assert no_example == [
        s for e, s in zip(kg_rows["example_id"], kg_rows["symptoms"], strict=True) if e is None
    ]
    with pytest.raises(
        MedsynError, match="option 'symptom_source': 'notes' is not valid; use one of kg, example"
    ):
        _config(symptom_source="notes")


def test_symptom_weights_from_the_real_notes_that_mention_them(demo: KGStore) -> None:
    """symptom_weights notes: a symptom the code's real notes mention outweighs the MKG edges none of them
    mention; a code without real notes samples as with kg; rows, codes and examples are unchanged."""
    kg_plan = build_planner(demo, NOTES, _config())
    planner = build_planner(demo, NOTES, _config(symptom_weights="notes"))
    assert planner.fingerprint != kg_plan.fingerprint
    a, b = kg_plan.plan(np.arange(300)), planner.plan(np.arange(300))
    assert all(a[k] == b[k] for k in ("row", "code", "example_id", "template_id", "seed"))

    def share(plan: dict, code: str, symptom: str) -> float:  # type: ignore[type-arg]
        rows = [set(s) for c, s in zip(plan["code"], plan["symptoms"], strict=True) if c == code]
        return sum(symptom in s for s in rows) / len(rows)

    # M54's only note, "Боль в пояснице после нагрузки.", mentions 1 of its 10 MKG symptoms.
    assert share(a, "M54", "боль в пояснице") < 0.6 < 0.9 < share(b, "M54", "боль в пояснице")
    # J06's notes mention насморк, боль в горле and кашель; none of them mentions ломота в теле.
    assert share(b, "J06", "ломота в теле") < share(a, "J06", "ломота в теле")
    i10 = [s for c, s in zip(a["code"], a["symptoms"], strict=True) if c == "I10"]
    assert i10 == [s for c, s in zip(b["code"], b["symptoms"], strict=True) if c == "I10"]
    with pytest.raises(
        MedsynError, match="option 'symptom_weights': 'example' is not valid; use one of kg, notes"
    ):
        _config(symptom_weights="example")
    with pytest.raises(MedsynError, match=r"give the notes \(--notes FILE\) or use --symptom-weights kg"):
        build_planner(demo, None, _config(symptom_weights="notes"))


def test_openings_come_from_another_real_note_of_the_code(demo: KGStore) -> None:
    """opening_words N: each row starts with the first N words of a real note of its code other than its
    example (the example itself where the code has no other note); off by default, and then the plan and
    its fingerprint are those of a plan made before the option."""
    off = build_planner(demo, NOTES, _config(form="completion"))
    assert off.plan(np.arange(300))["opening"] == [None] * 300
    planner = build_planner(demo, NOTES, _config(form="completion", opening_words=2))
    assert planner.fingerprint != off.fingerprint
    plan = planner.plan(np.arange(300))
    openings = {
        n: " ".join(t.split()[:2])
        for n, t in zip(NOTES["note_id"].to_pylist(), NOTES["text"].to_pylist(), strict=True)
    }
    for code, example_id, opening_id, opening in zip(
        plan["code"], plan["example_id"], plan["opening_id"], plan["opening"], strict=True
    ):
        if code == "J06":  # two notes: the one that is not the example
            assert {example_id, opening_id} == {"n1", "n2"}
        elif code == "M54":  # one note: its own example
            assert example_id == opening_id == "n3"
        else:  # I10 has no real note: no opening
            assert opening_id is None and opening is None
            continue
        assert opening == openings[opening_id]
    assert {e for e in plan["example_id"] if e} == {"n1", "n2", "n3"}  # the rest of the plan is unchanged
    same = ("code", "symptoms", "example_id", "template_id", "seed")
    assert all(plan[k] == off.plan(np.arange(300))[k] for k in same)


def test_openings_need_the_completion_form(demo: KGStore) -> None:
    with pytest.raises(MedsynError, match="opening_words 1 needs form completion .*not 'chat'"):
        _config(opening_words=1)
    with pytest.raises(MedsynError, match="opening_words must be >= 0, got -1"):
        _config(form="completion", opening_words=-1)


def test_codes_default_to_the_notes_codes(demo: KGStore) -> None:
    planner = build_planner(demo, NOTES, PlanConfig(n=4))
    assert planner.allocation() == {"J06": 2, "M54": 2}


def test_without_codes_or_notes_every_category_with_symptoms(demo: KGStore) -> None:
    planner = build_planner(demo, None, PlanConfig(n=44, examples="none"))
    expected = [
        c for c in demo.codes("category") if demo.symptoms(c, language="ru", include_descendants=True)
    ]
    assert len(expected) >= 20 and sorted(planner.allocation()) == expected
    assert all(n == 2 for n in planner.allocation().values()) and planner.total == 44


def test_bad_input(demo: KGStore) -> None:
    with pytest.raises(
        MedsynError, match=r"code\(s\) not in the KG demo: unknown ICD-10 code 'M55'; close codes: M54"
    ):
        build_planner(demo, NOTES, _config(codes=["M55", "J06"]))
    with pytest.raises(MedsynError, match="positive integer, got 0"):
        build_planner(demo, NOTES, _config(n=0))
    # The config checks itself when built, before any KG or notes are read.
    with pytest.raises(MedsynError, match="min_symptoms <= max_symptoms"):
        _config(min_symptoms=4, max_symptoms=2)
    with pytest.raises(MedsynError, match="unknown template 'fancy'"):
        _config(templates=["fancy"])
    with pytest.raises(MedsynError, match="option 'language': 'de' is not valid; use one of ru, en"):
        _config(language="de")


def test_code_without_symptoms_is_skipped_or_fails(demo: KGStore) -> None:
    # Blocks have no symptoms of their own; with include_subcodes off, 'J00-J06' has none.
    cfg = _config(codes=["J00-J06", "J06"], include_subcodes=False, n=4)
    planner = build_planner(demo, NOTES, cfg)
    assert planner.skipped == {"J00-J06": "no ru symptoms in the KG"}
    assert planner.allocation() == {"J06": 4}
    with pytest.raises(MedsynError, match="code J00-J06: no ru symptoms"):
        build_planner(
            demo, NOTES, _config(codes=["J00-J06"], include_subcodes=False, on_missing_symptoms="fail")
        )


def test_vectorised_plan_equals_the_one_row_reference(demo: KGStore) -> None:
    from medsyn.sampling.reference import plan_row

    planner = build_planner(
        demo,
        NOTES,
        _config(templates=["paper_main", "baseline_title"], n=200, form="completion", opening_words=1),
    )
    rows = np.arange(planner.total)
    plan = planner.plan(rows)
    for i in rows.tolist():
        expected = plan_row(planner, i)
        for column, value in expected.items():
            assert plan[column][i] == value, (i, column)
