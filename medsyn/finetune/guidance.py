"""Training a generator for guided decoding: condition dropout and a class-contrastive term.

    medsyn finetune --config gen.yaml --condition-dropout 0.12 --contrastive-k 2 --contrastive-weight 0.5

- Condition dropout: a seeded share of the title-conditioned note samples (note_from_title_symptoms,
  note_from_example) lose their disease: the prompt becomes the template's `blank` (no title, symptoms or
  example), so guided decoding's `no_disease` negative prompt is a prompt the generator was trained on.
- Class-contrastive term (GeDi, Krause et al. 2021; FewGen, Meng et al. 2023): for each such sample, the
  note's log-likelihood under its own title against under the titles of `k` confuser codes (the codes
  with the most train notes, other than its own); the loss adds `weight` times the cross-entropy of the
  own title among the k + 1, so the note becomes likelier under its own disease than under the frequent
  ones it drifts to.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import cache
from typing import Any

from medsyn.finetune.tasks import EXAMPLE_TEMPLATE, NOTE_TEMPLATE, _template_parts

TITLED_TASKS = ("note_from_title_symptoms", "note_from_example")


@cache
def _title_patterns(language: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for name in (NOTE_TEMPLATE, EXAMPLE_TEMPLATE):
        instruction = _template_parts(name, language)[0]
        before, after = instruction.split("{title}")
        out.append(re.compile(f"^{re.escape(before)}(.+?){re.escape(after)}$"))
    return tuple(out)


def title_of(row: dict[str, Any]) -> str | None:
    """The disease title in a title-conditioned note sample's instruction (None for other samples)."""
    if row.get("task") not in TITLED_TASKS:
        return None
    for pattern in _title_patterns(row["language"]):
        if match := pattern.match(row["instruction"]):
            return match.group(1)
    return None


def blank_instruction(language: str) -> str:
    """The instruction line of the generator's blank prompt (the disease removed)."""
    from medsyn.prompts import get_template

    return get_template(NOTE_TEMPLATE, language, "completion").blank.split("\n")[1]


def _draw(seed: int, row: dict[str, Any]) -> float:
    key = f"{seed}\x1f{row.get('task')}\x1f{row.get('note_id')}\x1f{row.get('instruction')}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def condition_dropout(rows: list[dict[str, Any]], share: float, seed: int) -> list[dict[str, Any]]:
    """The rows with a seeded `share` of the title-conditioned note samples blanked (the same rows in
    every epoch, on every worker and after a resume); `share` 0 returns the rows as they are."""
    if not share:
        return rows
    out = []
    for row in rows:
        if title_of(row) is not None and _draw(seed, row) < share:
            row = {**row, "instruction": blank_instruction(row["language"]), "input": ""}
        out.append(row)
    return out


def confuser_titles(rows: list[dict[str, Any]], k: int) -> list[tuple[str, str]]:
    """(code, title) of the k + 1 codes with the most title-conditioned train samples (a sample's own code
    is skipped among them, so every sample finds k confusers)."""
    counts: Counter[str] = Counter()
    titles: dict[str, str] = {}
    for row in rows:
        title = title_of(row)
        if title is not None and row.get("code"):
            counts[row["code"]] += 1
            titles.setdefault(row["code"], title)
    return [(code, titles[code]) for code, _ in counts.most_common(k + 1)]


CONTRASTIVE_SAMPLES = 2  # samples of a batch that get the contrastive term (each costs k + 1 sequences)


def contrastive_rows(
    row: dict[str, Any], confusers: list[tuple[str, str]], k: int
) -> list[dict[str, Any]] | None:
    """The sample under its own title, then under k confuser titles (None: not title-conditioned)."""
    title = title_of(row)
    if title is None or not k:
        return None
    others = [t for code, t in confusers if code != row.get("code") and t != title][:k]
    if len(others) < k:
        return None
    return [row] + [{**row, "instruction": row["instruction"].replace(title, other, 1)} for other in others]


def loss_with_contrast(
    model: Any,
    batch: list[tuple[list[int], list[int]]],
    groups: list[list[tuple[list[int], list[int]]]],
    pad_id: int,
    weight: float,
) -> Any:
    """The batch's answer loss (as `batches.answer_loss`) plus `weight` times the contrastive term of the
    groups (each: the encoded sample under its own title, then under its confusers' titles), in one forward
    pass (data-parallel training allows one per step). The contrastive term: the mean cross-entropy of
    the own title among its group, each row scored by its answer's summed log-likelihood."""
    import torch

    from medsyn.finetune.batches import collate

    flat = [r for g in groups for r in g]
    inputs = collate(batch + flat, pad_id)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in inputs.items()}
    targets = inputs.pop("labels")[:, 1:]
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
    logits = model(**inputs, logits_to_keep=keep).logits.float()
    targets = targets[:, keep]
    token_loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="none"
    ).reshape(targets.shape)
    n = len(batch)
    main = token_loss[:n].sum() / (targets[:n] != -100).sum()
    if not groups:
        return main
    scores = -token_loss[n:].sum(dim=1).reshape(len(groups), -1)  # [groups, k + 1]: answer log-likelihoods
    own = torch.zeros(len(groups), dtype=torch.long, device=device)
    return main + weight * torch.nn.functional.cross_entropy(scores, own)
