"""The inputs both diagnostics share: the train and dev notes, the 1,000 notes, the evaluation's sets."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medsyn.icd import category
from medsyn.notes import load_notes
from medsyn.pipeline.rundir import RunDir

OOT = ["E03", "G50", "H65", "I49", "J20", "J41", "L70", "L71", "M06", "M42"]
RUMED = "../shared/data/rumedbench/RuMedTop3"

train = load_notes(f"{RUMED}/train_v1.jsonl")
dev = load_notes(f"{RUMED}/dev_v1.jsonl")
synthetic = RunDir("runs/rumedtop3-rare").read(["note_id", "text"])
sets = pq.read_table("runs/eval-rumedtop3-dev/training_sets.parquet")
text = dict(zip(train["note_id"].to_pylist(), train["text"].to_pylist(), strict=True))
text |= dict(zip(synthetic["note_id"].to_pylist(), synthetic["text"].to_pylist(), strict=True))
dev_texts = dev["text"].to_pylist()
dev_codes = np.asarray([category(c) for c in dev["code"].to_pylist()])


def training_set(config: str, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """(texts, codes, sources) of one configuration's training set, as the evaluation built it."""
    rows = sets.filter(pc.and_(pc.equal(sets["config"], config), pc.equal(sets["seed"], seed)))
    ids = rows["note_id"].to_pylist()
    return [text[i] for i in ids], rows["code"].to_pylist(), np.asarray(rows["source"].to_pylist())
