"""Does cutting the classifier's n-grams to those both sources use (real and synthetic training notes)
let the codes taught by synthetic notes alone (OOT) be predicted? Seed 0 of each configuration.

    .venv/bin/python benchmarks/results/rumedtop3-dev/oot-rare/shared_vocab.py real real-oot+synthetic
"""

from __future__ import annotations

import sys

import numpy as np
from common import OOT, dev_codes, dev_texts, training_set
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC


def used_by(x, rows: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray((x[rows] > 0).sum(axis=0)).ravel() > 0


for config in sys.argv[1:]:
    texts, codes, sources = training_set(config)
    features = FeatureUnion(
        [
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )  # as medsyn's TfidfClassifier
    x = features.fit_transform(texts).tocsc()
    x_dev = features.transform(dev_texts).tocsc()
    for mode in ("all", "shared"):
        keep = np.ones(x.shape[1], bool)
        if mode == "shared" and (sources != "real").any():
            keep = used_by(x, sources == "real") & used_by(x, sources != "real")
        svm = LinearSVC(C=0.5, random_state=0).fit(x[:, keep], codes)
        top3 = svm.classes_[np.argsort(-svm.decision_function(x_dev[:, keep]), axis=1)[:, :3]]
        hit = (top3 == dev_codes[:, None]).any(axis=1)
        oot = np.isin(dev_codes, OOT)
        print(
            f"{config:28s} {mode:6s} features {keep.sum():7d}  Hit@3 all {100 * hit.mean():5.2f}  "
            f"OOT {100 * hit[oot].mean():5.2f}"
        )
