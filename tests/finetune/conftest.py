"""Fixture notes for the fine-tuning tests: a train file and, beside it, a dev file with a marker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MARKER = "ZZMARKERZZ"
TRAIN = [
    ("t1", "J06", "Боль в горле и насморк третий день, температура 38, слабость и чихание."),
    ("t2", "J06", "Кашель и насморк, ломота в теле, слабость второй день подряд."),
    ("t3", "M54", "Боль в пояснице после подъема тяжести, иррадиация боли в ногу, ограничение движений."),
    ("t4", "M54", "Боль в спине и скованность в спине по утрам, усиление боли при наклонах."),
    ("t5", "I10", "Головная боль в затылке, головокружение и шум в ушах при подъеме давления."),
    ("t6", "I10", "Тяжесть в затылке, мелькание мушек перед глазами, носовое кровотечение."),
]


def write_notes(rows: list[tuple[str, str, str]], path: Path) -> Path:
    path.write_text(
        "".join(
            json.dumps({"idx": i, "code": c, "symptoms": t}, ensure_ascii=False) + "\n" for i, c, t in rows
        )
    )
    return path


@pytest.fixture
def notes_dir(tmp_path: Path) -> Path:
    write_notes(TRAIN, tmp_path / "train.jsonl")
    write_notes(
        [("d1", "J06", f"Насморк и кашель {MARKER} три дня подряд без температуры.")], tmp_path / "dev.jsonl"
    )
    return tmp_path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instruction dataset built from the TRAIN notes and the demo KG (30% of the notes for val)."""
    from medsyn.finetune.dataset import DatasetConfig, build_dataset

    root = tmp_path_factory.mktemp("ft")
    notes = write_notes(TRAIN, root / "train.jsonl")
    build_dataset(DatasetConfig(notes=notes, kg="demo", out=root / "sft", val_fraction=0.3), use_ray=False)
    return root / "sft"
