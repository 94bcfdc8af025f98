"""The transformer classifier trained through Ray Train on 2 CPU workers (a tiny model built in code)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from medsyn.evaluate.metrics import rank_of_truth
from medsyn.evaluate.transformer import TransformerClassifier, TransformerConfig

pytestmark = pytest.mark.integration

TEXTS = {
    "J06": ["боль в горле насморк", "насморк и кашель", "першит в горле, насморк", "горло болит, чихание"],
    "M54": [
        "боль в пояснице",
        "поясница болит после нагрузки",
        "спина ноет в пояснице",
        "прострел в пояснице",
    ],
}


def test_fit_on_two_workers_learns_and_scores(ray_local, tiny_model: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    texts = [t for ts in TEXTS.values() for t in ts] * 4
    codes = [c for c, ts in TEXTS.items() for _ in ts] * 4
    config = TransformerConfig(
        transformer_model=str(tiny_model), epochs=6, learning_rate=3e-3, train_batch_size=8, num_workers=2
    )
    clf = TransformerClassifier(config, seed=0, storage=tmp_path / "runs", name="tiny").fit(texts, codes)
    assert clf.classes == ["J06", "M54"]
    assert clf.checkpoint_dir is not None and (clf.checkpoint_dir / "config.json").is_file()
    assert str(clf.checkpoint_dir).startswith(str((tmp_path / "runs" / "tiny").resolve()))
    losses = [h["train_loss"] for h in clf.history]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] * 0.5  # it learns the two codes apart
    scores = clf.scores(texts[:8])
    assert scores.shape == (8, 2) and np.isfinite(scores).all()
    ranks = rank_of_truth(scores, clf.classes, codes[:8])
    assert (ranks == 0).mean() >= 0.75
