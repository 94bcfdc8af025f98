"""How far a generated set drifts toward the most frequent training codes: the share of its notes that a
TF-IDF classifier trained on the real train notes puts first among the `--top` most frequent codes,
against the same share for the real test notes of the same codes.

    .venv/bin/python scripts/frequent_code_drift.py runs/rumedtop3-rare \\
        --train ../shared/data/rumedbench/RuMedTop3/train_v1.jsonl \\
        --test ../shared/data/rumedbench/RuMedTop3/dev_v1.jsonl > drift.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np

from medsyn.evaluate.synthetic import read_synthetic
from medsyn.notes import load_notes
from medsyn.quality.classifier import TfidfClassifier


def top1_codes(classifier: TfidfClassifier, texts: list[str]) -> list[str]:
    return [classifier.classes[i] for i in classifier.scores(texts).argmax(axis=1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", help="a generation run directory")
    parser.add_argument("--train", required=True, help="real train notes (the classifier's)")
    parser.add_argument("--test", required=True, help="real test notes (the comparison)")
    parser.add_argument("--top", type=int, default=10, help="how many of the most frequent train codes")
    args = parser.parse_args()
    train = load_notes(args.train)
    codes = train["code"].to_pylist()
    counts = Counter(codes)
    frequent = {c for c, _ in counts.most_common(args.top)}
    classifier = TfidfClassifier(seed=0).fit(train["text"].to_pylist(), codes)
    synthetic = read_synthetic(args.run_dir)
    texts = [t or "" for t in synthetic["text"].to_pylist()]
    generated = top1_codes(classifier, texts)
    wanted = set(synthetic["code"].to_pylist())
    test = [
        (t, c)
        for t, c in zip(*(load_notes(args.test)[k].to_pylist() for k in ("text", "code")), strict=True)
        if c in wanted
    ]
    real = top1_codes(classifier, [t for t, _ in test])
    print(
        json.dumps(
            {
                "frequent_codes": sorted(frequent),
                "frequent_share_of_train_notes": round(sum(counts[c] for c in frequent) / len(codes), 3),
                "synthetic_notes": len(texts),
                "synthetic_top1_frequent": round(float(np.mean([c in frequent for c in generated])), 3),
                "synthetic_top1_most_common": Counter(generated).most_common(6),
                "real_test_notes_of_these_codes": len(real),
                "real_top1_frequent": round(float(np.mean([c in frequent for c in real])), 3),
                "synthetic_mentioning_lumbar": round(float(np.mean(["поясничн" in t for t in texts])), 3),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
