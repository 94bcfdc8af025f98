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
    from medsyn.finetune import FinetuneConfig, dataset_from_notes

    config = FinetuneConfig(notes=notes_dir / "train.jsonl", kg="demo", out=notes_dir / "ft")
    dataset = Path(dataset_from_notes(config))
    assert dataset == notes_dir / "ft" / "dataset"
    built = sorted(map(str, pq.read_table(dataset / "train").to_pylist()))
    plain = build_samples(DatasetConfig(notes=notes_dir / "train.jsonl", kg="demo"), use_ray=False)
    assert built == sorted(str(s) for s in plain.to_pylist() if s["split"] == "train")
    # A rerun (a resume) reuses it rather than building it again.
    stamp = (dataset / "train" / "part-00000.parquet").stat().st_mtime_ns
    assert Path(dataset_from_notes(config)) == dataset
    assert (dataset / "train" / "part-00000.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(MedsynError, match="one of --dataset .* or --notes"):
        FinetuneConfig(out=notes_dir / "ft")


def _example_by_scan(
    config: DatasetConfig, pool: list[tuple[str, str]], note_id: str, text: str
) -> str | None:
    """The example choice written as the plain scan it replaces (the reference)."""
    import hashlib

    cap = config.example_max_words
    others = [
        t
        for i, t in pool
        if i != note_id and t.strip() != text.strip() and (not cap or len(t.split()) <= cap)
    ]
    if not others:
        return None
    key = f"{config.seed}\x1fexample\x1f{note_id}".encode()
    return others[int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % len(others)]


def test_example_choice_matches_the_plain_scan(real_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Real RuMedTop3 notes (duplicate texts included): the indexed choice is the scan's, note for note."""
    from medsyn.finetune.dataset import NoteSamples
    from medsyn.notes import load_notes

    notes = load_notes(real_data_dir / "rumedbench" / "RuMedTop3" / "train_v1.jsonl").to_pylist()
    pools: dict[str, list[tuple[str, str]]] = {}
    for r in notes:
        pools.setdefault(r["code"], []).append((r["note_id"], r["text"]))
    config = DatasetConfig(example_max_words=40, seed=3)
    samples = NoteSamples({}, {}, config, pools)
    chosen = [samples.example_for(r["note_id"], r["code"], r["text"]) for r in notes]
    assert chosen == [_example_by_scan(config, pools[r["code"]], r["note_id"], r["text"]) for r in notes]
    assert sum(c is None for c in chosen) < len(chosen) / 50


def test_max_notes_per_code_caps_the_real_notes(notes_dir: Path) -> None:
    base = dict(notes=notes_dir / "train.jsonl", kg="demo", tasks=["note_from_title_symptoms"])
    full = build_samples(DatasetConfig(**base), use_ray=False).to_pylist()
    capped = build_samples(DatasetConfig(**base, max_notes_per_code=1), use_ray=False).to_pylist()
    per_code = Counter(s["code"] for s in capped)
    assert per_code and max(per_code.values()) == 1 and set(per_code) == {s["code"] for s in full}
    assert {s["note_id"] for s in capped} < {s["note_id"] for s in full}
    # The choice is seeded: the same notes again; other notes under some other seed.
    again = build_samples(DatasetConfig(**base, max_notes_per_code=1), use_ray=False).to_pylist()
    assert [s["note_id"] for s in again] == [s["note_id"] for s in capped]
    seeds = {
        tuple(
            s["note_id"]
            for s in build_samples(
                DatasetConfig(**base, max_notes_per_code=1, seed=k), use_ray=False
            ).to_pylist()
        )
        for k in range(6)
    }
    assert len(seeds) > 1
    with pytest.raises(MedsynError, match="max_notes_per_code must be >= 0"):
        DatasetConfig(**base, max_notes_per_code=-1)
