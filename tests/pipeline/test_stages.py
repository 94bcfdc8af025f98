"""The job's batch functions on their own: openings at the end of the prompt and at the start of the note."""

from __future__ import annotations

from medsyn.pipeline.generate import vllm_output_row
from medsyn.pipeline.stages import start_answer, with_opening


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


def test_vllm_rows_get_their_opening_and_keep_their_error() -> None:
    row = {"row": 3, "opening": "Жалобы", "generated_text": " на кашель\n", "num_generated_tokens": 4}
    out = vllm_output_row({**row, "__inference_error__": None})
    assert out["text"] == "Жалобы на кашель" and out["completion_tokens"] == 4 and out["error"] is None
    assert not any(k.startswith("__") for k in out)
    failed = vllm_output_row({**row, "__inference_error__": "ValueError: prompt too long"})
    assert failed["text"] is None and failed["error"] == "ValueError: prompt too long"
