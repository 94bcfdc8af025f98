"""LoRA fine-tuning of the generator on Ray Train (TorchTrainer running a plain PyTorch loop with peft).

    medsyn finetune --dataset runs/sft --base-model smollm2-135m-instruct --out runs/adapter --num-workers 2
    python jobs/finetune.py --config finetune.yaml          # the same, as a `ray job submit` entrypoint

The loss is on the answer tokens only (the "### Задание / ### Вход / ### Ответ" prompt is masked). Each
worker reads the dataset and takes every world_size-th sample of a seeded per-epoch order, so a resumed
run sees the same batches. Every `checkpoint_every` steps rank 0 saves adapter, optimizer, scheduler and
step to the run's storage; a rerun with the same --out (and storage) resumes from the latest one. The
adapter lands in OUT/adapter with medsyn_adapter.json (base model, training settings, losses).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from medsyn.errors import ServiceError
from medsyn.finetune.checkpoints import latest_checkpoint, merge_adapter
from medsyn.finetune.config import ADAPTER_META, FinetuneConfig, check_inputs
from medsyn.finetune.loop import loop_config, ray_train_loop
from medsyn.storage import Location, staged_dir


def dataset_from_notes(config: FinetuneConfig) -> str:
    """--notes: the instruction dataset in OUT/dataset (built once; a rerun that resumes reuses it)."""
    from medsyn.finetune.dataset import DatasetConfig, build_dataset
    from medsyn.ray_env import init_ray

    dataset = Location.parse(config.out, option="--out").join("dataset")  # type: ignore[arg-type]
    if not dataset.join("train").is_dir():
        init_ray(None)
        build_dataset(
            DatasetConfig(
                notes=config.notes,
                kg=config.kg,
                out=dataset.uri,
                overwrite=True,
                tasks=config.tasks,
                language=config.language,
                example_max_words=config.example_max_words,
                max_notes_per_code=config.max_notes_per_code,
            )
        )
    return dataset.uri


def run_finetune(config: FinetuneConfig) -> dict[str, Any]:
    """Train a LoRA adapter on Ray Train (or resume from the latest checkpoint) and write OUT/adapter.

    Args:
        config: the dataset (or real notes and a KG to build it from), base model, LoRA and optimiser
            settings, workers and output directory; see `FinetuneConfig`.

    Returns:
        The summary, also in OUT/adapter/medsyn_adapter.json: base model and its fingerprint, steps,
        losses, samples per task, the data trained on, the config; plus "adapter", its location.

    Raises:
        ConfigError: a bad option, e.g. target modules the base model lacks, or a missing package.
        DataError: a dataset without training samples.
        ServiceError: the Ray Train run ended without a checkpoint.

    Examples:
        >>> from medsyn.finetune import FinetuneConfig, run_finetune
        >>> summary = run_finetune(FinetuneConfig(notes="train.jsonl", kg="demo", out="runs/ft",
        ...                                       base_model="smollm2-135m-instruct", max_steps=20))
        >>> summary["adapter"]  # doctest: +SKIP
        'runs/ft/adapter'
    """
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from medsyn.models import check_model, model_fingerprint
    from medsyn.ray_env import init_ray

    given = config
    if config.dataset is None:
        config = replace(config, dataset=dataset_from_notes(config), notes=None)
    model_path, train, val = check_inputs(config)
    out = Location.parse(config.out, option="--out").check()  # type: ignore[arg-type]
    storage = Location.parse(config.storage_path or out.join("ray").uri, option="--storage-path").check()
    name = "finetune"
    resume = latest_checkpoint(storage, name)
    model = check_model(config.base_model)  # a packaged name: each worker resolves it on its node
    init_ray(None)
    if config.use_gpu:
        from medsyn.gpu_check import check_gpus

        check_gpus(1, what="fine-tuning with --use-gpu", fix="leave out --use-gpu to train on CPUs")
    started = time.time()
    trainer = TorchTrainer(
        ray_train_loop,
        train_loop_config=loop_config(config, model, resume.uri if resume else None),
        scaling_config=ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu),
        # Every worker reads the whole (small) dataset from its storage and takes its own seeded share
        # of each epoch (epoch_batches): the same batches on every run, so a resumed run continues
        # exactly.
        # (mypy knows ray.train.RunConfig as ray.air's; at run time it is Ray Train v2's, which takes
        # worker_runtime_env.)
        run_config=RunConfig(  # type: ignore[call-arg]
            storage_path=storage.uri,
            name=name,
            failure_config=FailureConfig(max_failures=config.max_failures),
            # Ray Train turns a worker's print() into a log record and, where Ray has wrapped stdout,
            # prints it as well: every progress line reached the driver twice. Plain print, once.
            worker_runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}},
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise ServiceError(f"fine-tuning ended without a checkpoint: {result.error}")
    history = result.metrics_dataframe.to_dict("records") if result.metrics_dataframe is not None else []
    if history:  # a resumed run's dataframe also holds the reports of the runs before it
        history = [h for h in history if h["resumed_from"] == history[-1]["resumed_from"]]
    with result.checkpoint.as_directory() as local:  # a download when the storage is remote
        last = json.loads((Path(local) / "state.json").read_text())
        files = {f.name: f.read_bytes() for f in (Path(local) / "adapter").iterdir() if f.is_file()}
    summary = {
        "base_model": config.base_model,
        "base_model_path": str(model_path),
        "base_model_fingerprint": model_fingerprint(model_path),  # its weights: checked where it is used
        "step": last["step"],
        "total_steps": last["total"],
        "complete": last["step"] >= last["total"],
        "resumed_from": int(history[0]["resumed_from"]) if history else 0,
        "history": [
            {k: v for k, v in h.items() if k in ("step", "train_loss", "val_loss", "tokens", "train_seconds")}
            for h in history
        ],
        "train_samples": len(train),
        "val_samples": len(val),
        "train_samples_by_task": dict(sorted(Counter(r["task"] for r in train).items())),
        "data": data_record(given),
        "seconds": round(time.time() - started, 1),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(given).items()},
    }
    files[ADAPTER_META] = json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8")
    adapter = out.join("adapter")
    adapter.delete()
    with staged_dir(adapter, last=ADAPTER_META) as directory:
        for file_name, data in files.items():
            (directory / file_name).write_bytes(data)
    if config.merge and summary["complete"]:
        with adapter.local_copy() as local_adapter, staged_dir(out.join("merged")) as merged:
            merge_adapter(local_adapter, merged)
    return summary | {"adapter": adapter.uri}


def data_record(config: FinetuneConfig) -> dict[str, Any]:
    """What the adapter was trained on: the notes file (name, sha256) or the dataset, and the KG."""
    import hashlib

    record: dict[str, Any] = {"kg": config.kg}
    source = Location.parse(config.notes or config.dataset)  # type: ignore[arg-type]
    record["notes" if config.notes else "dataset"] = source.name
    if source.is_file():
        record["sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
    return record
