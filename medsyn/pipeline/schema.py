"""The columns of a generated note (one Parquet row per planned note, failed ones included)."""

from __future__ import annotations

import pyarrow as pa

NOTES = pa.schema(
    [
        ("note_id", pa.string()),
        ("row", pa.int64()),
        ("code", pa.string()),
        ("title", pa.string()),
        ("language", pa.string()),
        ("symptoms", pa.list_(pa.string())),
        ("sex", pa.string()),
        ("age", pa.int64()),
        ("example_id", pa.string()),
        ("opening_id", pa.string()),  # opening_words: the real note whose first words open this note
        ("opening", pa.string()),  # ... those words (the start of `text`; the prompt ends with them)
        ("template_id", pa.string()),
        ("system", pa.string()),
        ("prompt", pa.string()),
        ("text", pa.string()),
        ("model", pa.string()),
        ("engine", pa.string()),
        ("temperature", pa.float64()),
        ("top_p", pa.float64()),
        ("max_tokens", pa.int64()),
        ("seed", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("finish_reason", pa.string()),
        ("symptom_recall", pa.float64()),
        ("length_ratio", pa.float64()),
        ("example_similarity", pa.float64()),
        ("example_containment", pa.float64()),
        ("copied_example", pa.bool_()),
        ("error", pa.string()),
    ]
)
