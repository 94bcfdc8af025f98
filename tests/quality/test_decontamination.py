"""Decontamination: notes that copy a test note are removed and counted; a run whose prompts showed test
notes is refused, by id and by text; a test set must not be the train file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from medsyn.errors import ConfigError, DataError
from medsyn.pipeline.generate import check_test_sets
from medsyn.quality.decontamination import copies_of_test_notes, refuse_test_examples
from medsyn.quality.filters import FilterConfig, apply_filters

TEST_NOTES = [
    "Жалобы на боли в эпигастрии после еды, тошноту, изжогу по утрам в течение недели.",
    "Беспокоит кашель с мокротой, температура 38, слабость третий день.",
]


def test_a_planted_copy_of_a_test_note_is_found_and_only_it() -> None:
    planted = "Пациент отмечает: " + TEST_NOTES[0]
    notes = [planted, "Головная боль в височной области, головокружение при вставании.", ""]
    assert copies_of_test_notes(notes, TEST_NOTES, threshold=0.5) == [True, False, False]
    assert copies_of_test_notes(notes, [], threshold=0.5) == [False, False, False]


def test_the_filters_remove_test_copies_and_count_them() -> None:
    synthetic = pa.table(
        {
            "note_id": ["a", "b", "c"],
            "code": ["K29", "J20", "R51"],
            "text": [TEST_NOTES[1][:45], "Изжога и отрыжка кислым.", "Головная боль."],
        }
    )
    config = FilterConfig(filters=[])
    result = apply_filters(synthetic, [], config, test_texts=TEST_NOTES)
    assert result.reasons == ["test_overlap", None, None] and result.kept.num_rows == 2
    step = next(s for s in result.funnel if s["filter"] == "test_overlap")
    assert step["enabled"] and step["removed"] == 1 and step["threshold"] == config.max_test_containment
    clean = apply_filters(synthetic, [], config)
    assert clean.kept.num_rows == 3
    assert next(s for s in clean.funnel if s["filter"] == "test_overlap")["enabled"] is False


def test_a_run_that_showed_test_notes_is_refused_by_id_and_by_text() -> None:
    test = pa.table({"note_id": ["d1", "d2"], "code": ["K29", "J20"], "text": TEST_NOTES})
    run_notes = pa.table(
        {"note_id": ["t1", "t2"], "code": ["K29", "J20"], "text": ["Другая запись.", TEST_NOTES[1]]}
    )
    by_id = pa.table({"example_id": ["d1", None], "opening_id": [None, None]})
    with pytest.raises(
        DataError, match=r"1 by note id, 0 by text; e\.g\. d1.*--notes naming the train split"
    ):
        refuse_test_examples(by_id, run_notes, test, "dev.jsonl")
    by_text = pa.table({"example_id": ["t1", None], "opening_id": [None, "t2"]})
    with pytest.raises(DataError, match=r"'dev.jsonl'.*0 by note id, 1 by text; e\.g\. t2"):
        refuse_test_examples(by_text, run_notes, test, "dev.jsonl")
    refuse_test_examples(pa.table({"example_id": ["t1"], "opening_id": [None]}), run_notes, test, "dev.jsonl")


def test_a_test_set_is_never_the_train_file(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"code": "K29", "text": TEST_NOTES[0]}, ensure_ascii=False) + "\n")
    copy = tmp_path / "copy.jsonl"
    shutil.copy(train, copy)
    for test in (train, copy):
        with pytest.raises(ConfigError, match=r"--test '.*' is the --notes file"):
            check_test_sets([str(test)], str(train))
    with pytest.raises(Exception, match="missing.jsonl"):
        check_test_sets([str(tmp_path / "missing.jsonl")], str(train))
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({"code": "J20", "text": TEST_NOTES[1]}, ensure_ascii=False) + "\n")
    check_test_sets([str(dev)], str(train))
