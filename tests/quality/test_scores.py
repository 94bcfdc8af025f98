import pytest

from medsyn.quality.scores import score_note, symptom_recall
from medsyn.quality.text import same_word


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        ("боль", "болит", True),
        ("горле", "горло", True),
        ("температура", "температуры", True),
        ("кашель", "кашля", True),
        ("cough", "coughing", True),
        ("ад", "ад", True),
        ("ад", "адрес", False),
        ("насморк", "наследство", False),
        ("слабость", "сладость", False),
    ],
)
def test_inflection_tolerant_words(a: str, b: str, match: bool) -> None:
    assert same_word(a, b) is match


def test_symptom_recall_tolerates_russian_inflection() -> None:
    note = "Беспокоят боли в горле, сильный кашель по ночам, температура до 38."
    assert symptom_recall(note, ["боль в горле", "кашель", "повышение температуры тела", "насморк"]) == 0.5
    assert symptom_recall(note, ["боль в горле", "кашель"]) == 1.0
    assert symptom_recall("", ["кашель"]) == 0.0
    assert symptom_recall(note, []) is None


def test_copy_flag_and_length_ratio() -> None:
    example = "Жалобы на боль в пояснице после подъёма тяжести, усиливается при наклонах."
    copied = score_note(example + " Третий день.", ["боль в пояснице"], example)
    assert (
        copied.copied_example and copied.example_containment is not None and copied.example_containment > 0.8
    )
    fresh = score_note("Кашель и насморк, температура 37.5 второй день.", ["кашель"], example)
    assert (
        not fresh.copied_example and fresh.example_similarity is not None and fresh.example_similarity < 0.2
    )
    assert fresh.length_ratio == pytest.approx(7 / 11)
    alone = score_note("Кашель.", ["кашель"], None)
    assert (alone.length_ratio, alone.example_similarity, alone.copied_example) == (None, None, False)
