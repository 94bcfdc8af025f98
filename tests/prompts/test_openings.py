"""A note's opening (generation's opening_words): at the end of the prompt and at the start of the note."""

from __future__ import annotations

from medsyn.prompts import start_answer, with_opening


def test_the_prompt_ends_with_the_opening() -> None:
    assert start_answer("### Ответ:\n", "Жалобы на") == "### Ответ:\nЖалобы на"
    assert start_answer("Запись о жалобах пациента:", "Боли") == "Запись о жалобах пациента: Боли"
    assert start_answer("### Ответ:\n", None) == start_answer("### Ответ:\n", "") == "### Ответ:\n"


def test_the_note_starts_with_the_opening() -> None:
    assert with_opening("Жалобы", "на кашель") == "Жалобы на кашель"
    assert with_opening("Кашель", ", насморк.") == "Кашель, насморк."  # punctuation goes on without a space
    assert with_opening("Боли в", "") == "Боли в"
    assert with_opening(None, "на кашель") == "на кашель"
    assert with_opening("Жалобы", None) is None  # a failed row stays failed
