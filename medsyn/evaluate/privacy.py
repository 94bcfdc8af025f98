"""Privacy check of synthetic notes against the real training notes, reported on every run.

    summary, per_note = privacy_check(synthetic, train, PrivacyConfig())

- closest real note of each synthetic note by 5-gram Jaccard and by LSA-embedding cosine, and the share
  of synthetic notes above each threshold;
- membership inference: are the real notes that served as prompt examples (members) closer to the
  synthetic notes than real notes of the same codes that were never examples (non-members)? AUC of
  "max similarity to any synthetic note" separating members from non-members; 0.5 means the synthetic
  notes reveal nothing about which notes were used, 1.0 means they give the examples away.
Only training notes are used; the test set is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from medsyn.config import option
from medsyn.quality.similarity import EmbeddingIndex, NgramIndex


@dataclass
class PrivacyConfig:
    ngram_threshold: float = option(
        0.6, help="privacy: 5-gram Jaccard at which a synthetic note counts as too close"
    )
    embedding_threshold: float = option(
        0.95, help="privacy: LSA cosine at which a synthetic note counts as too close"
    )
    max_nonmembers: int = option(2000, help="privacy: most non-member real notes in the membership test")


def _auc(members: np.ndarray, nonmembers: np.ndarray) -> float | None:
    if len(members) == 0 or len(nonmembers) == 0:
        return None
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    return float(roc_auc_score(y, np.r_[members, nonmembers]))


def _stats(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    return {"mean": float(x.mean()), "p95": float(np.quantile(x, 0.95)), "max": float(x.max())}


def privacy_check(
    synthetic: pa.Table, train: pa.Table, config: PrivacyConfig, *, seed: int = 0
) -> tuple[dict[str, Any], pa.Table]:
    syn_texts = [t or "" for t in synthetic["text"].to_pylist()]
    real_ids = train["note_id"].to_pylist()
    real_texts = train["text"].to_pylist()
    real_codes = train["code"].to_pylist()
    if not syn_texts or not real_texts:
        return {"n_synthetic": len(syn_texts), "n_real": len(real_texts)}, pa.table({})
    ngram_best, ngram_sim, _ = NgramIndex(real_texts).nearest(syn_texts)
    emb_index = EmbeddingIndex(real_texts, seed=seed)
    emb_best, emb_sim = emb_index.nearest(syn_texts)
    per_note = pa.table(
        {
            "note_id": synthetic["note_id"],
            "nearest_real_ngram": [real_ids[i] if i >= 0 else None for i in ngram_best],
            "ngram_similarity": ngram_sim,
            "nearest_real_embedding": [real_ids[i] for i in emb_best],
            "embedding_similarity": emb_sim,
        }
    )
    summary: dict[str, Any] = {
        "n_synthetic": len(syn_texts),
        "n_real": len(real_texts),
        "ngram": _stats(ngram_sim)
        | {
            "threshold": config.ngram_threshold,
            "share_above": float((ngram_sim >= config.ngram_threshold).mean()),
        },
        "embedding": _stats(emb_sim)
        | {
            "threshold": config.embedding_threshold,
            "share_above": float((emb_sim >= config.embedding_threshold).mean()),
        },
        "membership": _membership(
            synthetic, syn_texts, real_ids, real_texts, real_codes, emb_index, config, seed
        ),
    }
    return summary, per_note


def _membership(
    synthetic: pa.Table,
    syn_texts: list[str],
    real_ids: list[str],
    real_texts: list[str],
    real_codes: list[str],
    emb_index: EmbeddingIndex,
    config: PrivacyConfig,
    seed: int,
) -> dict[str, Any]:
    used = (
        {e for e in synthetic["example_id"].to_pylist() if e}
        if "example_id" in synthetic.column_names
        else set()
    )
    members = [i for i, note_id in enumerate(real_ids) if note_id in used]
    member_codes = {real_codes[i] for i in members}
    others = [
        i for i, note_id in enumerate(real_ids) if note_id not in used and real_codes[i] in member_codes
    ]
    rng = np.random.default_rng(seed)
    if len(others) > config.max_nonmembers:
        others = sorted(rng.choice(others, size=config.max_nonmembers, replace=False).tolist())
    if not members or not others:
        return {"members": len(members), "nonmembers": len(others), "auc_ngram": None, "auc_embedding": None}
    # Each real note's score: its similarity to the closest synthetic note.
    _, ngram_score, _ = NgramIndex(syn_texts).nearest([real_texts[i] for i in members + others])
    real_emb = emb_index.embed([real_texts[i] for i in members + others])
    emb_score = np.full(len(real_emb), -1.0)
    for start in range(0, len(syn_texts), 4096):
        syn_emb = emb_index.embed(syn_texts[start : start + 4096])
        emb_score = np.maximum(emb_score, (real_emb @ syn_emb.T).max(axis=1))
    m = len(members)
    return {
        "members": m,
        "nonmembers": len(others),
        "auc_ngram": _auc(ngram_score[:m], ngram_score[m:]),
        "auc_embedding": _auc(emb_score[:m], emb_score[m:]),
        "mean_ngram": {"members": float(ngram_score[:m].mean()), "nonmembers": float(ngram_score[m:].mean())},
        "mean_embedding": {"members": float(emb_score[:m].mean()), "nonmembers": float(emb_score[m:].mean())},
    }
