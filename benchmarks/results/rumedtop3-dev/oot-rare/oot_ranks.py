"""Where the OOT codes' dev notes go: the true code's rank among the classifier's codes, and the sources
(real, synthetic) of the codes it ranks in its top 3. Seed 0 of one configuration's training set.

    .venv/bin/python benchmarks/results/rumedtop3-dev/oot-rare/oot_ranks.py real-oot+synthetic:rare
"""

from __future__ import annotations

import collections
import sys

import numpy as np
from common import OOT, dev_codes, dev_texts, training_set

from medsyn.quality.classifier import TfidfClassifier

config = sys.argv[1] if len(sys.argv) > 1 else "real-oot+synthetic:rare"
texts, codes, sources = training_set(config)
classifier = TfidfClassifier(seed=0).fit(texts, codes)
classes = np.asarray(classifier.classes)
source_of = collections.defaultdict(set)
for code, source in zip(codes, sources, strict=True):
    source_of[code].add(str(source))
pick = [i for i, c in enumerate(dev_codes) if c in OOT]
scores = classifier.scores([dev_texts[i] for i in pick])
ranks, predicted = [], collections.Counter()
for row, i in enumerate(pick):
    order = classes[np.argsort(-scores[row])]
    where = np.flatnonzero(order == dev_codes[i])
    ranks.append(int(where[0]) + 1 if where.size else None)  # None: the code has no training note
    predicted.update("+".join(sorted(source_of[c])) for c in order[:3])
print("synthetic training notes per OOT code:", {c: codes.count(c) for c in OOT})
print("dev notes per OOT code:", {c: int((dev_codes == c).sum()) for c in OOT})
print(config, "codes", len(classes), "OOT dev notes", len(pick))
known = [r for r in ranks if r is not None]
print("rank of the true code: median", np.median(known), "ranks", sorted(known))
print("notes whose code has no training note:", ranks.count(None))
print("top-3 predictions by the sources of the predicted code:", dict(predicted))
