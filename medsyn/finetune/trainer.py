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
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError, DataError, ServiceError
from medsyn.finetune.tasks import TASKS, Task
from medsyn.storage import Location, staged_dir

ADAPTER_META = "medsyn_adapter.json"


@dataclass
class FinetuneConfig:
    dataset: str | None = option(
        None, help="instruction dataset directory (train/ and val/ Parquet; a path or URI)"
    )
    notes: str | None = option(
        None, help="instead of --dataset: real training notes; the dataset is built into OUT/dataset first"
    )
    kg: str | None = option(
        None, help="with --notes: KG of the MKG tasks ('demo', a KG directory, a Neo4j URI)"
    )
    tasks: list[Task] = option(default_factory=lambda: list(TASKS), help="with --notes: tasks to build")
    language: Literal["ru", "en"] = option("ru", help="with --notes: language of instructions and MKG facts")
    example_max_words: int = option(
        60, help="with --notes, note_from_example: examples of at most this many words (0: any)"
    )
    out: str | None = option(
        None, help="run directory (a path or URI): adapter/, merged/ and (default) the Ray Train storage"
    )
    base_model: str = option("smollm2-135m-instruct", help="base model directory or packaged model name")
    lora_r: int = option(16, help="LoRA rank")
    lora_alpha: int = option(16, help="LoRA alpha")
    lora_dropout: float = option(0.05, help="LoRA dropout")
    target_modules: list[str] = option(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], help="modules that get LoRA"
    )
    learning_rate: float = option(2e-5, help="peak learning rate (cosine schedule)")
    warmup_steps: int = option(0, help="linear warm-up steps")
    epochs: int = option(3, help="passes over the training samples")
    max_steps: int = option(0, help="optimizer steps in all (0: from epochs)")
    batch_size: int = option(8, help="samples per step per worker")
    max_length: int = option(512, help="tokens kept per sample (prompt + answer)")
    num_workers: int = option(1, help="Ray Train workers (data-parallel)")
    use_gpu: bool = option(False, help="one GPU per worker (bf16)")
    checkpoint_every: int = option(50, help="steps between checkpoints (and validation losses)")
    storage_path: str | None = option(
        None, help="Ray Train storage for checkpoints (default: OUT/ray); on a cluster, shared or s3://..."
    )
    max_failures: int = option(
        2, help="worker failures (a lost node) a run survives, restarting from its latest checkpoint"
    )
    stop_after: int = option(
        0, help="end this run after this many steps of it (resume later); 0: run to the end"
    )
    merge: bool = option(False, help="also write OUT/merged: the base model with the adapter merged in")
    seed: int = option(0, help="seed of initialisation and data order")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.out is None:
            raise ConfigError("--out is required", option="out")
        if (self.dataset is None) == (self.notes is None):
            raise ConfigError("give one of --dataset (built by `medsyn finetune-data`) or --notes")
        for name in ("lora_r", "lora_alpha", "batch_size", "max_length", "num_workers", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 1 and self.max_steps < 1:
            raise ConfigError("need --epochs >= 1 or --max-steps >= 1")


def _read_split(dataset: Location, split: str) -> list[dict[str, Any]]:
    part = dataset.join(split)
    if not part.files(suffix=".parquet"):
        return []
    return part.read_parquet().to_pylist()


def check_inputs(config: FinetuneConfig) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """Resolve the base model, read the dataset and check the target modules, before any Ray work."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from medsyn.models import resolve_model

    model_path = resolve_model(config.base_model)
    dataset = Location.parse(config.dataset, option="--dataset").check()  # type: ignore[arg-type]
    if not dataset.is_dir():
        raise DataError(f"dataset {dataset.uri!r} does not exist (build it with `medsyn finetune-data`)")
    train, val = _read_split(dataset, "train"), _read_split(dataset, "val")
    if not train:
        raise DataError(
            f"dataset {dataset.uri!r} has no training samples (expected {dataset.uri}/train/*.parquet)"
        )
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path))
    names = {name.rsplit(".", 1)[-1] for name, _ in skeleton.named_modules()}
    missing = [m for m in config.target_modules if m not in names]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in skeleton.named_modules() if isinstance(m, torch.nn.Linear)}
        )
        raise ConfigError(
            f"target modules {missing} are not in {config.base_model}; "
            f"its linear modules are: {', '.join(linear)}"
        )
    return model_path, train, val


def _encode(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> list[tuple[list[int], list[int]]]:
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


def _collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
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


class RayTrainContext:
    """What the loop needs from Ray Train: rank, world size, device, DDP, checkpoints and reports."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.local_world = ctx.get_local_world_size()
        self.device = ray.train.torch.get_device()

    def prepare(self, model: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_model(model, move_to_device=False) if self.world > 1 else model

    def samples(self, split: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
        """A split of the dataset, whole, from the Ray Data dataset given to the trainer."""
        import ray.train

        try:
            shard = ray.train.get_dataset_shard(split)
        except KeyError:  # no such split (an empty validation set is not passed)
            return []
        if shard is None:
            return []
        rows = [r for batch in shard.iter_batches(batch_format="pyarrow") for r in batch.to_pylist()]
        return _sorted_samples(rows)

    def checkpoint_dir(self) -> str | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        return checkpoint.to_directory() if checkpoint is not None else None

    def report(self, metrics: dict[str, Any], directory: str | None) -> None:
        import ray.train

        ray.train.report(
            metrics, checkpoint=ray.train.Checkpoint.from_directory(directory) if directory else None
        )


class LocalContext:
    """The same loop in this process, without Ray (one worker; the baseline of bench_finetune)."""

    def __init__(self, out: Path) -> None:
        import torch

        self.rank, self.world, self.local_world = 0, 1, 1
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.out, self.reports = out, []  # type: ignore[var-annotated]

    def prepare(self, model: Any) -> Any:
        return model

    def samples(self, split: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
        return list(cfg[split])

    def checkpoint_dir(self) -> str | None:
        return None

    def report(self, metrics: dict[str, Any], directory: str | None) -> None:
        self.reports.append(metrics)
        if directory:
            shutil.rmtree(self.out, ignore_errors=True)
            shutil.copytree(directory, self.out)


def _train_loop(cfg: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    train_loop(cfg, RayTrainContext())


def train_loop(cfg: dict[str, Any], ctx: Any) -> None:
    """The LoRA training loop (one data-parallel worker of `ctx.world`)."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

    rank, world, device = ctx.rank, ctx.world, ctx.device
    if device.type == "cpu":  # Ray starts workers with OMP_NUM_THREADS=1: share this node's cores instead
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ctx.local_world))
    torch.manual_seed(cfg["seed"])
    from medsyn.models import resolve_model

    model_dir = str(resolve_model(cfg["model"]))  # this worker's node: a packaged model converts here
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    dtype = torch.bfloat16 if cfg["use_gpu"] else torch.float32
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    lora = LoraConfig(
        r=cfg["lora_r"],
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        target_modules=cfg["target_modules"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    train = _encode(tokenizer, ctx.samples("train", cfg), cfg["max_length"])
    val = _encode(tokenizer, ctx.samples("val", cfg), cfg["max_length"])
    steps_per_epoch = max(1, len(train) // (cfg["batch_size"] * world))
    total = cfg["max_steps"] or cfg["epochs"] * steps_per_epoch
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["lr"])
    scheduler = get_cosine_schedule_with_warmup(optimizer, cfg["warmup_steps"], total)
    step = 0
    resume_dir = ctx.checkpoint_dir()  # this run's latest (after a worker failure)
    if resume_dir is None and cfg["resume_dir"]:  # an earlier run's, on any storage: a local copy
        with Location.parse(cfg["resume_dir"]).local_copy() as local:
            resume_dir = tempfile.mkdtemp(prefix="medsyn-resume-")
            shutil.copytree(local, resume_dir, dirs_exist_ok=True)
    if resume_dir:
        from safetensors.torch import load_file

        set_peft_model_state_dict(
            model, load_file(str(Path(resume_dir) / "adapter" / "adapter_model.safetensors"))
        )
        optimizer.load_state_dict(torch.load(Path(resume_dir) / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(Path(resume_dir) / "scheduler.pt", weights_only=True))
        step = json.loads((Path(resume_dir) / "state.json").read_text())["step"]
    start_step = step
    model.to(device)
    ddp = ctx.prepare(model)
    tokens = 0

    def loss_on(batch: list[tuple[list[int], list[int]]]) -> Any:
        nonlocal tokens
        inputs = {k: v.to(device) for k, v in _collate(batch, pad_id).items()}
        if model.training:
            tokens += int(inputs["attention_mask"].sum())
        return answer_loss(ddp, inputs)

    def val_loss() -> float | None:
        if not val:
            return None
        model.eval()
        with torch.no_grad():
            losses = [
                float(loss_on(val[i : i + cfg["batch_size"]])) for i in range(0, len(val), cfg["batch_size"])
            ]
        model.train()
        return float(np.mean(losses))

    model.train()
    plans: dict[int, list[Any]] = {}
    window: list[float] = []
    train_seconds = 0.0
    while step < total:
        t0 = time.perf_counter()
        epoch, position = divmod(step, steps_per_epoch)
        if epoch not in plans:
            plans.clear()
            plans[epoch] = epoch_batches(
                [len(ids) for ids, _ in train],
                steps_per_epoch,
                cfg["batch_size"],
                cfg["seed"],
                epoch,
                rank,
                world,
            )
        batch = [train[i] for i in plans[epoch][position]]
        loss = loss_on(batch)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        window.append(float(loss.detach()))
        train_seconds += time.perf_counter() - t0
        if rank == 0 and step % cfg.get("log_every", 10) == 0:
            print(
                f"step {step}/{total}  loss {np.mean(window[-cfg.get('log_every', 10) :]):.4f}  "
                f"{tokens * world / max(train_seconds, 1e-9):.0f} tokens/s",
                flush=True,
            )
        stopping = cfg["stop_after"] and step - start_step >= cfg["stop_after"]
        if step % cfg["checkpoint_every"] == 0 or step == total or stopping:
            metrics = {
                "step": step,
                "train_loss": float(np.mean(window)),
                "val_loss": val_loss(),
                "resumed_from": start_step,
                "tokens": tokens * world,  # this worker's tokens x workers (equal batches per worker)
                "train_seconds": train_seconds,
            }
            window = []
            with tempfile.TemporaryDirectory() as tmp:
                saved = None
                if rank == 0:
                    model.save_pretrained(str(Path(tmp) / "adapter"))
                    torch.save(optimizer.state_dict(), Path(tmp) / "optimizer.pt")
                    torch.save(scheduler.state_dict(), Path(tmp) / "scheduler.pt")
                    files = {
                        str(f.relative_to(tmp)): f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()
                    }
                    state = {"step": step, "total": total, "files": files}
                    (Path(tmp) / "state.json").write_text(json.dumps(state))
                    saved = tmp
                ctx.report(metrics, saved)
            if stopping:
                return


def latest_checkpoint(storage: Location | Path | str, name: str) -> Location | None:
    """The complete checkpoint directory with the highest step under storage/name (None if there is
    none), on any storage. A checkpoint cut short by a crash (a file missing or shorter than state.json
    lists) is skipped."""
    import pyarrow.fs as pafs

    root = Location.parse(storage).join(name)
    selector = pafs.FileSelector(root.path, recursive=True, allow_not_found=True)
    sizes = {i.path: i.size for i in root.fs.get_file_info(selector) if i.type == pafs.FileType.File}
    best: tuple[int, str] | None = None
    for path in sizes:
        if not path.endswith("/state.json"):
            continue
        directory = path[: -len("/state.json")]
        try:
            meta = json.loads(Location(path, root.fs, path, root.option).read_text())
        except (ValueError, OSError):
            continue
        step, files = meta["step"], meta.get("files", {})
        if all(sizes.get(f"{directory}/{f}") == size for f, size in files.items()) and (
            best is None or step > best[0]
        ):
            best = (step, directory)
    if best is None:
        return None
    uri = best[1] if root.is_local else root.uri[: len(root.uri) - len(root.path)] + best[1]
    return Location(uri, root.fs, best[1], root.option)


def _build_dataset(config: FinetuneConfig) -> str:
    """--notes: the instruction dataset in OUT/dataset (built once; a rerun that resumes reuses it)."""
    from medsyn.finetune.dataset import DatasetConfig, build_dataset
    from medsyn.pipeline.generate import init_ray

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
            )
        )
    return dataset.uri


def _ray_datasets(dataset: str, *, val: bool) -> dict[str, Any]:
    import ray.data

    root = Location.parse(dataset, option="--dataset")
    splits = ["train", "val"] if val else ["train"]
    return {split: ray.data.read_parquet(root.join(split).uri) for split in splits}


def _sorted_samples(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One order for every worker and every run, whatever order Ray Data delivered the rows in."""
    key = ("task", "code", "note_id", "input", "output")
    return sorted(rows, key=lambda r: tuple(str(r.get(k) or "") for k in key))


def loop_config(config: FinetuneConfig, model: str, resume_dir: str | None = None) -> dict[str, Any]:
    """The training loop's settings from the run's config (what each Ray Train worker receives)."""
    return {
        "model": model,
        # The samples reach the workers through Ray Data (read from the dataset's storage by Ray
        # tasks), not inside this config.
        "lora_r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": config.target_modules,
        "lr": config.learning_rate,
        "warmup_steps": config.warmup_steps,
        "epochs": config.epochs,
        "max_steps": config.max_steps,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "checkpoint_every": config.checkpoint_every,
        "stop_after": config.stop_after,
        "use_gpu": config.use_gpu,
        "seed": config.seed,
        # A rerun continues from the latest complete checkpoint of an earlier (killed) run (a path or
        # URI each worker reads); within a run, Ray Train restores its own latest checkpoint after a
        # worker failure (get_checkpoint()).
        "resume_dir": resume_dir,
    }


def run_finetune(config: FinetuneConfig) -> dict[str, Any]:
    """Train (or resume) and write OUT/adapter; returns the summary (also in medsyn_adapter.json)."""
    from ray.train import DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from medsyn.models import check_model, model_fingerprint
    from medsyn.pipeline.generate import init_ray

    given = config
    if config.dataset is None:
        config = replace(config, dataset=_build_dataset(config), notes=None)
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
        _train_loop,
        train_loop_config=loop_config(config, model, resume.uri if resume else None),
        scaling_config=ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu),
        # Every worker reads the whole (small) dataset and takes its own seeded share of each epoch
        # (epoch_batches): the same batches on every run, so a resumed run continues exactly.
        datasets=_ray_datasets(config.dataset, val=bool(val)),  # type: ignore[arg-type]
        dataset_config=DataConfig(datasets_to_split=[]),
        run_config=RunConfig(
            storage_path=storage.uri,
            name=name,
            failure_config=FailureConfig(max_failures=config.max_failures),
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
        "data": _data_record(given),
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


def _data_record(config: FinetuneConfig) -> dict[str, Any]:
    """What the adapter was trained on: the notes file (name, sha256) or the dataset, and the KG."""
    import hashlib

    record: dict[str, Any] = {"kg": config.kg}
    source = Location.parse(config.notes or config.dataset)  # type: ignore[arg-type]
    record["notes" if config.notes else "dataset"] = source.name
    if source.is_file():
        record["sha256"] = hashlib.sha256(source.read_bytes()).hexdigest()
    return record


def merge_adapter(adapter: Path, out: Path) -> Path:
    """The base model with the adapter merged in, as a plain model directory (vLLM and hf load it)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medsyn.models import resolve_model

    meta = json.loads((adapter / ADAPTER_META).read_text())
    base_path = resolve_model(meta["base_model"])
    base = AutoModelForCausalLM.from_pretrained(base_path)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_path).save_pretrained(out)
    return out
