"""A fine-tuned transformer ICD-10 classifier, trained through Ray Train.

    clf = TransformerClassifier(TransformerConfig(model="smollm2-135m-instruct", num_workers=2), seed=0,
                                storage=Path("runs/eval/classifier-runs"), name="real-seed0")
    clf.fit(train_texts, train_codes)       # TorchTrainer: DDP over num_workers (CPU here, GPUs on a cluster)
    scores = clf.scores(test_texts)         # (n, len(clf.classes)) logits

The model is any local causal-LM or encoder directory (or a packaged model name) loaded with
`AutoModelForSequenceClassification`: a new classification head on top, the whole network fine-tuned.
Each epoch ends with a checkpoint under `storage/name`; the last one is used to score.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsyn.config import option
from medsyn.errors import DataError, MedsynError, ServiceError


@dataclass
class TransformerConfig:
    transformer_model: str = option(
        "smollm2-135m-instruct", help="transformer: model directory or packaged model name to fine-tune"
    )
    epochs: int = option(3, help="transformer: passes over the training notes")
    learning_rate: float = option(5e-5, help="transformer: AdamW learning rate")
    train_batch_size: int = option(16, help="transformer: notes per step per worker")
    max_length: int = option(128, help="transformer: tokens kept per note")
    num_workers: int = option(1, help="transformer: Ray Train workers (data-parallel)")
    use_gpu: bool = option(False, help="transformer: one GPU per worker")


def _train_loop(cfg: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    import ray.train
    import ray.train.torch
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not cfg.get("use_gpu"):  # Ray starts workers with OMP_NUM_THREADS=1: share this node's cores
        local = ray.train.get_context().get_local_world_size()
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    torch.manual_seed(cfg["seed"])
    labels: list[str] = cfg["labels"]
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg["model"],
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={c: i for i, c in enumerate(labels)},
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    model = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"])
    shard = ray.train.get_dataset_shard("train")
    rank = ray.train.get_context().get_world_rank()
    for epoch in range(cfg["epochs"]):
        model.train()
        losses = []
        batches = shard.iter_batches(
            batch_size=cfg["batch_size"],
            batch_format="numpy",
            local_shuffle_buffer_size=4 * cfg["batch_size"],
            local_shuffle_seed=cfg["seed"] + epoch,
        )
        for batch in batches:
            enc = tokenizer(
                [str(t) for t in batch["text"]],
                truncation=True,
                max_length=cfg["max_length"],
                padding=True,
                return_tensors="pt",
            ).to(device)
            out = model(**enc, labels=torch.as_tensor(batch["label"], device=device))
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(out.loss.detach()))
        metrics = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                unwrapped: Any = model.module if hasattr(model, "module") else model
                unwrapped.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)


class TransformerClassifier:
    def __init__(self, config: TransformerConfig, *, seed: int = 0, storage: Path | str, name: str) -> None:
        from medsyn.storage import Location

        self.config = config
        self.seed = seed
        self.storage = Location.parse(storage, option="classifier storage").uri  # a path or URI
        self.name = name
        self.classes: list[str] = []
        self.checkpoint: Any = None
        self.checkpoint_dir: Path | None = None
        self.history: list[dict[str, Any]] = []

    def fit(self, texts: Sequence[str], codes: Sequence[str]) -> TransformerClassifier:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        from medsyn.models import resolve_model

        if len(texts) != len(codes):
            raise DataError(f"{len(texts)} texts but {len(codes)} codes")
        self.classes = sorted(set(codes))
        if len(self.classes) < 2:
            raise DataError(f"a classifier needs notes of at least 2 codes, got {self.classes or 'none'}")
        index = {c: i for i, c in enumerate(self.classes)}
        c = self.config
        if c.use_gpu:
            from medsyn.gpu_check import check_gpus

            check_gpus(1, what="the transformer classifier with --use-gpu", fix="leave out --use-gpu")
        dataset = ray.data.from_items(
            [{"text": t or "", "label": index[code]} for t, code in zip(texts, codes, strict=True)]
        )
        trainer = TorchTrainer(
            _train_loop,
            train_loop_config={
                "model": str(resolve_model(c.transformer_model)),
                "labels": self.classes,
                "epochs": c.epochs,
                "lr": c.learning_rate,
                "batch_size": c.train_batch_size,
                "max_length": c.max_length,
                "seed": self.seed,
                "use_gpu": c.use_gpu,
            },
            scaling_config=ScalingConfig(num_workers=c.num_workers, use_gpu=c.use_gpu),
            run_config=RunConfig(storage_path=self.storage, name=self.name),
            datasets={"train": dataset},
        )
        result = trainer.fit()
        if result.checkpoint is None:
            raise ServiceError(
                f"transformer training {self.name!r} ended without a checkpoint: {result.error}"
            )
        self.checkpoint = result.checkpoint
        self.checkpoint_dir = Path(result.checkpoint.path) if "://" not in self.storage else None
        self.history = (
            result.metrics_dataframe.to_dict("records") if result.metrics_dataframe is not None else []
        )
        return self

    def scores(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if self.checkpoint is None:
            raise MedsynError("the classifier is not fitted: call fit() first")
        with self.checkpoint.as_directory() as local:  # a download when the storage is remote
            tokenizer = AutoTokenizer.from_pretrained(local)
            model = AutoModelForSequenceClassification.from_pretrained(local).eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                enc = tokenizer(
                    [t or "" for t in texts[start : start + batch_size]],
                    truncation=True,
                    max_length=self.config.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                out.append(model(**enc).logits.float().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))
