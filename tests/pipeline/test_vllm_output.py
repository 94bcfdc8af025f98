"""The rows out of ray.data.llm's vLLM stage, as the generation job keeps them."""

from __future__ import annotations

from medsyn.pipeline.generate import vllm_output_row


def test_vllm_rows_get_their_opening_and_keep_their_error() -> None:
    row = {"row": 3, "opening": "Жалобы", "generated_text": " на кашель\n", "num_generated_tokens": 4}
    out = vllm_output_row({**row, "__inference_error__": None})
    assert out["text"] == "Жалобы на кашель" and out["completion_tokens"] == 4 and out["error"] is None
    assert not any(k.startswith("__") for k in out)
    failed = vllm_output_row({**row, "__inference_error__": "ValueError: prompt too long"})
    assert failed["text"] is None and failed["error"] == "ValueError: prompt too long"
