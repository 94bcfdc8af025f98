"""The instruction dataset on Ray Data: Parquet splits, the same samples as without Ray, no dev note."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medsyn.errors import MedsynError
from medsyn.finetune.dataset import DatasetConfig, build_dataset, build_samples
from medsyn.finetune.tasks import TASKS
from tests.finetune.conftest import MARKER, TRAIN

pytestmark = pytest.mark.integration


def test_dataset_on_ray_data(ray_local, notes_dir: Path) -> None:  # type: ignore[no-untyped-def]
    config = DatasetConfig(
        notes=notes_dir / "train.jsonl", kg="demo", out=notes_dir / "sft", val_fraction=0.3
    )
    summary = build_dataset(config)
    train = pq.read_table(notes_dir / "sft" / "train").to_pylist()
    val = pq.read_table(notes_dir / "sft" / "val").to_pylist()
    assert len(train) + len(val) == summary["samples"] and train and val
    assert set(summary["by_task"]) == set(TASKS)
    # Ray Data gives exactly the samples the plain function gives.
    plain = build_samples(config, use_ray=False).to_pylist()
    assert sorted(map(str, plain)) == sorted(map(str, train + val))
    counts = Counter(s["task"] for s in plain)
    # 6 notes, each 10+ words -> 3 continuations each; each mentions MKG symptoms -> 1 note task each.
    assert counts["continuation"] == 18 and counts["note_from_symptoms"] == 6
    # The paper's prompt: each note gets the other real note of its code as its example, never itself.
    texts = {i: t for i, _, t in TRAIN}
    other = {"t1": "t2", "t2": "t1", "t3": "t4", "t4": "t3", "t5": "t6", "t6": "t5"}
    with_example = [s for s in plain if s["task"] == "note_from_example"]
    assert {s["note_id"] for s in with_example} == set(other)
    for s in with_example:
        assert s["input"].startswith(f"Пример: {texts[other[s['note_id']]]}\nСимптомы: ")
        assert s["output"] == texts[s["note_id"]]
    # 3 codes: each has >= 2 symptoms, drugs, and neighbours through shared symptoms (M54, I10: headache).
    assert counts["symptom_continuation"] == 3 and counts["kg_symptoms"] == 3 and counts["kg_drugs"] == 3
    # A note's samples never straddle the train/val split.
    by_note: dict[str, set[str]] = {}
    for s in train + val:
        if s["note_id"]:
            by_note.setdefault(s["note_id"], set()).add(s["split"])
    assert all(len(v) == 1 for v in by_note.values()) and set(by_note) == {n[0] for n in TRAIN}
    # The dev file beside the train file never reaches the dataset.
    assert not any(MARKER in (s["input"] + s["output"]) for s in train + val)
    with pytest.raises(MedsynError, match="is not empty; pass --overwrite"):
        build_dataset(config)


def test_bad_input(notes_dir: Path) -> None:
    with pytest.raises(MedsynError, match=r"option 'tasks': \['poetry'\] is not valid"):
        DatasetConfig(tasks=["poetry"])
    (notes_dir / "other.jsonl").write_text('{"idx": "x", "code": "Z99", "symptoms": "Шум."}\n')
    config = DatasetConfig(
        notes=notes_dir / "other.jsonl", kg="demo", out=notes_dir / "o", tasks=["kg_drugs"]
    )
    with pytest.raises(MedsynError, match="the dataset is empty"):
        build_dataset(config, use_ray=False)
    assert not (notes_dir / "o").exists()


def test_finetune_from_notes_builds_the_dataset_once(ray_local, notes_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from medsyn.finetune.trainer import FinetuneConfig, _build_dataset

    config = FinetuneConfig(notes=notes_dir / "train.jsonl", kg="demo", out=notes_dir / "ft")
    dataset = Path(_build_dataset(config))
    assert dataset == notes_dir / "ft" / "dataset"
    built = sorted(map(str, pq.read_table(dataset / "train").to_pylist()))
    plain = build_samples(DatasetConfig(notes=notes_dir / "train.jsonl", kg="demo"), use_ray=False)
    assert built == sorted(str(s) for s in plain.to_pylist() if s["split"] == "train")
    # A rerun (a resume) reuses it rather than building it again.
    stamp = (dataset / "train" / "part-00000.parquet").stat().st_mtime_ns
    assert Path(_build_dataset(config)) == dataset
    assert (dataset / "train" / "part-00000.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(MedsynError, match="one of --dataset .* or --notes"):
        FinetuneConfig(out=notes_dir / "ft")
