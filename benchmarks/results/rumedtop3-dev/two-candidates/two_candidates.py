"""Two candidate notes per prompt: both of them (more notes), or the one a real-trained classifier prefers
(a proxy for reranking candidates at generation).

The shipped generator's 1,000 rare-code notes (runs/rumedtop3-rare) and the lr 5e-4 generator's
(runs/rumedtop3-rare-lr5e4, lr5e4/) answer the same 1,000 prompts: the same plan, so the same code,
symptoms and example per note_id. This writes two synthetic sets:

- runs/rumedtop3-rare-2k: all 2,000 notes (the second generator's note_ids suffixed `-lr5e4`);
- runs/rumedtop3-rare-best2: per prompt, the candidate whose code a TF-IDF classifier ranks higher
  (ties: the higher symptom recall, then the shipped one). The classifier is trained on the real train
  notes *without* the 10 out-of-training codes, so it leaks nothing about them: their candidate is chosen
  by symptom recall alone.

    .venv/bin/python benchmarks/results/rumedtop3-dev/two-candidates/two_candidates.py
    medsyn evaluate --config jobs/configs/rumedtop3_dev_evaluate.yaml --synthetic runs/rumedtop3-rare-2k \
        --out runs/eval-2k                                                    # union-2k/
    medsyn evaluate --config jobs/configs/rumedtop3_dev_evaluate.yaml --synthetic runs/rumedtop3-rare-best2 \
        --out runs/eval-best2                                                 # best-of-2/
    medsyn quality runs/rumedtop3-rare-best2 --json > best-of-2/quality.json
"""

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from medsyn.evaluate.metrics import rank_of_truth
from medsyn.notes import load_notes
from medsyn.quality.classifier import TfidfClassifier

SHIPPED, SECOND = Path("runs/rumedtop3-rare"), Path("runs/rumedtop3-rare-lr5e4")
UNION, BEST = Path("runs/rumedtop3-rare-2k"), Path("runs/rumedtop3-rare-best2")


def write_set(out: Path, table: pa.Table, *, run_file: bool) -> None:
    """The notes as a set of Parquet shards; with `run_file`, a run directory (the plan's run.json, which
    `medsyn quality` reads; a run directory holds one note per planned row, so not for the union)."""
    shutil.rmtree(out, ignore_errors=True)
    (out / "shards").mkdir(parents=True)
    pq.write_table(table, out / "shards" / "part-000.parquet")
    if run_file:
        shutil.copy(SHIPPED / "run.json", out / "run.json")


a = pq.read_table(SHIPPED / "shards").sort_by("note_id")
b = pq.read_table(SECOND / "shards").sort_by("note_id")
assert a["note_id"].equals(b["note_id"]) and a["prompt"].equals(b["prompt"])

renamed = pc.binary_join_element_wise(b["note_id"], pa.scalar("-lr5e4"), "")
second = b.set_column(b.column_names.index("note_id"), "note_id", renamed)
write_set(UNION, pa.concat_tables([a, second]), run_file=False)

config = yaml.safe_load(Path("jobs/configs/rumedtop3_dev_evaluate.yaml").read_text())
oot = set(config["oot_codes"])
train = load_notes(config["train"])
notes = zip(train["text"].to_pylist(), train["code"].to_pylist(), strict=True)
pairs = [(t, c) for t, c in notes if c not in oot]
clf = TfidfClassifier(seed=0).fit([t for t, _ in pairs], [c for _, c in pairs])
truth = a["code"].to_pylist()
UNJUDGED = 10**6


def ranks(t: pa.Table) -> np.ndarray:
    r = rank_of_truth(clf.scores([x or "" for x in t["text"].to_pylist()]), clf.classes, truth)
    return np.where(r < 0, UNJUDGED, r)


def recall(t: pa.Table) -> np.ndarray:
    return np.array([x if x is not None else -1.0 for x in t["symptom_recall"].to_pylist()])


ra, rb = ranks(a), ranks(b)
take_second = (rb < ra) | ((rb == ra) & (recall(b) > recall(a)))
best = pa.concat_tables([(b if s else a).slice(i, 1) for i, s in enumerate(take_second)])
write_set(BEST, best, run_file=True)

judged = ra < UNJUDGED
print(f"union: {UNION} ({2 * a.num_rows} notes)")
print(f"best of 2: {BEST}; the lr5e4 candidate taken for {int(take_second.sum())} of {a.num_rows} prompts")
for name, r in (("shipped", ra), ("lr5e4", rb), ("best of 2", np.minimum(ra, rb))):
    share = np.mean(r[judged] < 3)
    print(f"  {name:9s} top-3 agreement on the {int(judged.sum())} non-OOT prompts: {share:.3f}")
