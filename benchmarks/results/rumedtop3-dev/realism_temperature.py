"""Realism and the share of notes opening with "Жалобы на": a run at another sampling temperature against
a same-size per-code sample (the first k notes of each code) of the 1,000-note run at temperature 0.5.

    medsyn generate --config jobs/configs/rumedtop3_rare_generate.yaml --n 120 --temperature 1.0 \\
        --out runs/rare-t1-120
    .venv/bin/python benchmarks/results/rumedtop3-dev/realism_temperature.py runs/rare-t1-120
"""

from __future__ import annotations

import collections
import sys

import pyarrow.parquet as pq

from medsyn.notes import load_notes
from medsyn.quality.realism import realism

OPENING = "жалобы на"


def opening_share(texts: list[str]) -> float:
    return sum(t.lower().startswith(OPENING) for t in texts) / len(texts)


def main(run: str) -> None:
    new = pq.read_table(f"{run}/shards").to_pylist()
    codes = {r["code"] for r in new}
    k = len(new) // len(codes)
    seen: collections.Counter[str] = collections.Counter()
    base = []
    for r in sorted(pq.read_table("runs/rumedtop3-rare/shards").to_pylist(), key=lambda r: r["row"]):
        if seen[r["code"]] < k:
            seen[r["code"]] += 1
            base.append(r)
    real = load_notes("../shared/data/rumedbench/RuMedTop3/train_v1.jsonl")
    pairs = zip(real["text"].to_pylist(), real["code"].to_pylist(), strict=True)
    real_texts = [text for text, code in pairs if code in codes]
    for name, rows in [(f"T=0.5 (first {k} per code of the 1,000)", base), (run, new)]:
        texts = [r["text"] for r in rows if r["text"]]
        result = realism(texts, real_texts)
        print(f"{name}: {len(texts)} notes, realism AUC {result['value']:.3f}, "
              f"'Жалобы на' opening {opening_share(texts):.2f}")  # fmt: skip
        print("  marks the notes:", ", ".join(result["generated_markers"]))
    print(f"real train notes of these codes: 'Жалобы на' opening {opening_share(real_texts):.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
