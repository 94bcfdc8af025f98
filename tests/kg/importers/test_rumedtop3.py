import shutil
from pathlib import Path

import pytest

from medsyn.errors import SourceError
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers import icd10_ru, rumedtop3


def _builder(fixture_data: Path) -> KGBuilder:
    builder = KGBuilder()
    icd10_ru.load(fixture_data / icd10_ru.FILE, builder)
    return builder


def test_symptom_counts_from_train_visits_only(fixture_data: Path) -> None:
    builder = _builder(fixture_data)
    n = rumedtop3.load(fixture_data / rumedtop3.TRAIN_FILE, fixture_data / rumedtop3.MARKUP_FILE, builder)
    # Worked by hand: a1, a2 -> насморк x2; a2 -> боль в горле x1; a3 -> жажда x1 (a3's empty row ignored);
    # d1 is a dev visit and x9 no train visit: neither may appear.
    assert n == 3
    assert builder.symptom_edges == {
        ("J06", "насморк", "ru", "rumedtop3_train"): (2.0, "2 train visits"),
        ("J06", "боль в горле", "ru", "rumedtop3_train"): (1.0, "1 train visits"),
        ("E11", "жажда", "ru", "rumedtop3_train"): (1.0, "1 train visits"),
    }
    names = {name for name, _ in builder.symptom_nodes}
    assert "маркер утечки dev" not in names and "кашель" not in names


def test_unknown_code_is_recorded_not_dropped_silently(fixture_data: Path, tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"idx": "a1", "code": "Q99"}\n', encoding="utf-8")
    builder = _builder(fixture_data)
    rumedtop3.load(train, fixture_data / rumedtop3.MARKUP_FILE, builder)
    assert builder.symptom_edges == {}
    assert builder.skipped == {("rumedtop3_train", "code Q99 not in the ICD-10 hierarchy"): 1}


def test_bad_json_line_is_named(fixture_data: Path, tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    shutil.copy(fixture_data / rumedtop3.TRAIN_FILE, train)
    with train.open("a", encoding="utf-8") as fh:
        fh.write('{"idx": "a4", "code": \n')
    with pytest.raises(SourceError, match=r"train\.jsonl:4: invalid JSON"):
        rumedtop3.load(train, fixture_data / rumedtop3.MARKUP_FILE, _builder(fixture_data))
    train.write_text('{"idx": "a1"}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"train\.jsonl:1: missing key\(s\) \['code'\]"):
        rumedtop3.load(train, fixture_data / rumedtop3.MARKUP_FILE, _builder(fixture_data))
