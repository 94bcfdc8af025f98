"""`medsyn quality RUNDIR`: the gates of a run directory, judged against the run's own notes and KG."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsyn.cli.main import main

REAL = [
    ("r1", "J06", "Насморк, боль в горле, температура 37.5 второй день."),
    ("r2", "J06", "Кашель и чихание, слабость, заложенность носа третий день."),
    ("r3", "M54", "Боль в пояснице после подъема тяжести, боль отдает в ногу."),
    ("r4", "M54", "Боль в спине по утрам, скованность, боль при наклонах."),
]


def _run_dir(tmp_path: Path) -> Path:
    notes = tmp_path / "train.jsonl"
    notes.write_text(
        "".join(
            json.dumps({"idx": i, "code": c, "symptoms": t}, ensure_ascii=False) + "\n" for i, c, t in REAL
        )
    )
    run = tmp_path / "run"
    (run / "shards").mkdir(parents=True)
    config = {"notes": str(notes), "kg": "demo", "language": "ru", "text_column": None, "code_column": "code"}
    (run / "run.json").write_text(json.dumps({"config": config}))
    rows = {
        "row": [0, 1, 2],
        "code": ["J06", "M54", "J06"],
        "text": [
            "Насморк и кашель, слабость второй день.",
            "Боль в пояснице при наклонах.",
            "Одиной стило победительное",
        ],
        "symptom_recall": [1.0, 0.5, 0.0],
        "copied_example": [False, False, False],
        "error": [None, None, None],
    }
    pq.write_table(pa.table(rows), run / "shards" / "part-00000.parquet")
    return run


def test_quality_prints_the_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path)
    assert main(["quality", str(run), "--json"]) == 0
    gates = json.loads(capsys.readouterr().out)
    assert gates["n"] == 3 and gates["language"]["value"] == pytest.approx(2 / 3)
    assert gates["symptom_recall"]["value"] == pytest.approx(0.5)
    assert (gates["realism"]["generated"], gates["realism"]["real"]) == (3, 4)  # J06 and M54's real notes
    assert main(["quality", str(run)]) == 0
    table = capsys.readouterr().out
    assert "language" in table and "classifier_agreement" in table
    assert gates["language"]["too_few"] == {"n": 3, "needs": 50} and "too few" in table  # not a FAIL
    assert "realism: 3 notes against 4 real notes" in table


def test_not_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quality", str(tmp_path)]) == 2
    assert "is not a generation run directory (no run.json, no quota.json)" in capsys.readouterr().err
