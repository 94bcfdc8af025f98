"""From instruction samples to training batches: tokenize (loss on the answer only), collate, a seeded
per-epoch batch order, and the answer-only loss."""

from __future__ import annotations

from typing import Any


def encode(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per sample; labels are -100 on the prompt (loss on the answer only)."""
    from medsyn.finetune.tasks import prompt_text
    from medsyn.models import with_bos

    out = []
    for row in rows:
        prompt, answer = prompt_text(row)
        p = tokenizer(with_bos(tokenizer, prompt), add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p + a)[:max_length]
        labels = ([-100] * len(p) + a)[:max_length]
        if any(x != -100 for x in labels):
            out.append((ids, labels))
    return out


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (x, y) in enumerate(batch):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def epoch_batches(
    lengths: list[int], steps: int, batch_size: int, seed: int, epoch: int, rank: int, world: int
) -> list[Any]:
    """This worker's `steps` batches (sample indices) of one epoch: a seeded shuffle, every world-th
    sample, then batches of similar lengths (sorted within windows of 32 batches, batch order shuffled
    again) so little compute goes to padding. A pure function of its arguments: a resumed run sees the
    same batches."""
    import numpy as np

    rng = np.random.default_rng([seed, epoch])
    mine = rng.permutation(len(lengths))[rank::world][: steps * batch_size]
    window = 32 * batch_size
    batches = []
    for lo in range(0, len(mine), window):
        chunk = mine[lo : lo + window]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def answer_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """The causal LM loss of `inputs` (labels -100 outside the answers), computing the output layer only
    at positions whose next token is an answer token: the same value as `model(**inputs).loss`, at a
    fraction of the cost where the vocabulary is large (Gemma: 262k tokens) and prompts are long."""
    import torch

    labels = inputs["labels"]
    targets = labels[:, 1:]
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
    rest = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**rest, logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets[:, keep].reshape(-1), ignore_index=-100
    )


def sorted_samples(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One order for every worker and every run, whatever order the Parquet files delivered the rows in."""
    key = ("task", "code", "note_id", "input", "output")
    return sorted(rows, key=lambda r: tuple(str(r.get(k) or "") for k in key))
