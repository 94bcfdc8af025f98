"""The LoRA training loop (one data-parallel worker) and the settings each worker receives."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from medsyn.finetune.batches import answer_loss, collate, encode, epoch_batches
from medsyn.finetune.config import FinetuneConfig
from medsyn.finetune.contexts import RayTrainContext
from medsyn.finetune.guidance import (
    CONTRASTIVE_SAMPLES,
    condition_dropout,
    confuser_titles,
    contrastive_rows,
    loss_with_contrast,
)
from medsyn.storage import Location


def ray_train_loop(cfg: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    train_loop(cfg, RayTrainContext())


def train_loop(cfg: dict[str, Any], ctx: Any) -> None:
    """The LoRA training loop (one data-parallel worker of `ctx.world`)."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
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
    rows = condition_dropout(ctx.samples("train", cfg), cfg.get("condition_dropout", 0.0), cfg["seed"])
    pairs = [(row, e[0]) for row in rows if (e := encode(tokenizer, [row], cfg["max_length"]))]
    train_rows, train = [r for r, _ in pairs], [e for _, e in pairs]
    contrast_k, weight = cfg.get("contrastive_k", 0), cfg.get("contrastive_weight", 0.0)
    confusers = confuser_titles(train_rows, contrast_k) if contrast_k and weight else []
    val = encode(tokenizer, ctx.samples("val", cfg), cfg["max_length"])
    if 0 < cfg["val_max_samples"] < len(val):  # the same seeded choice at every checkpoint
        chosen = np.random.default_rng(cfg["seed"]).permutation(len(val))[: cfg["val_max_samples"]]
        val = [val[i] for i in sorted(chosen)]
    steps_per_epoch = max(1, len(train) // (cfg["batch_size"] * world))
    total = cfg["max_steps"] or cfg["epochs"] * steps_per_epoch
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["lr"])
    scheduler = get_cosine_schedule_with_warmup(optimizer, cfg["warmup_steps"], total)
    step = 0
    with ctx.latest_checkpoint() as latest:  # this run's latest (after a worker failure)
        if latest is not None:
            step = restore(Path(latest), model, optimizer, scheduler)
        elif cfg["resume_dir"]:  # an earlier run's, on any storage: read from a local copy
            with Location.parse(cfg["resume_dir"]).local_copy() as local:
                step = restore(Path(local), model, optimizer, scheduler)
    start_step = step
    model.to(device)
    ddp = ctx.prepare(model)
    tokens = 0

    def loss_on(batch: list[tuple[list[int], list[int]]], groups: list[Any] | None = None) -> Any:
        nonlocal tokens
        if groups:  # the class-contrastive term, in the same forward pass
            tokens += sum(len(ids) for ids, _ in batch) + sum(len(ids) for g in groups for ids, _ in g)
            return loss_with_contrast(ddp, batch, groups, pad_id, weight)
        inputs = {k: v.to(device) for k, v in collate(batch, pad_id).items()}
        if model.training:
            tokens += int(inputs["attention_mask"].sum())
            return answer_loss(ddp, inputs)
        return answer_loss(model, inputs)  # no gradients: the plain model, no collective in its forward

    def groups_of(indices: Any) -> list[Any]:
        """The encoded contrastive groups of a batch's first CONTRASTIVE_SAMPLES title-conditioned samples."""
        out: list[Any] = []
        for i in indices:
            group = contrastive_rows(train_rows[i], confusers, contrast_k) if confusers else None
            encoded = encode(tokenizer, group, cfg["max_length"]) if group else []
            if group and len(encoded) == len(group):
                out.append(encoded)
            if len(out) == CONTRASTIVE_SAMPLES:
                break
        return out

    def val_loss() -> float | None:
        """The mean loss over the val batches: each worker takes every `world`-th batch, and the sums
        meet in one all-reduce (every worker gets the same value)."""
        if not val:
            return None
        model.eval()
        size = cfg["batch_size"]
        mine = range(rank * size, len(val), world * size)
        with torch.no_grad():
            sums = torch.tensor(
                [sum(float(loss_on(val[i : i + size])) for i in mine), len(mine)], dtype=torch.float64
            ).to(device)
        if world > 1:
            torch.distributed.all_reduce(sums)
        model.train()
        return float(sums[0] / sums[1])

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
        loss = loss_on(batch, groups_of(plans[epoch][position]))
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


def restore(checkpoint: Path, model: Any, optimizer: Any, scheduler: Any) -> int:
    """Load a checkpoint written by `train_loop` (adapter, optimizer, scheduler) and return its step."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter" / "adapter_model.safetensors")))
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
    return int(json.loads((checkpoint / "state.json").read_text())["step"])


def loop_config(config: FinetuneConfig, model: str, resume_dir: str | None = None) -> dict[str, Any]:
    """The training loop's settings from the run's config (what each Ray Train worker receives)."""
    return {
        "model": model,
        # Each worker reads the samples from the dataset's storage (not sent inside this config).
        "dataset": Location.parse(config.dataset, option="--dataset").uri if config.dataset else None,
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
        "val_max_samples": config.val_max_samples,
        "stop_after": config.stop_after,
        "use_gpu": config.use_gpu,
        "seed": config.seed,
        "condition_dropout": config.condition_dropout,
        "contrastive_k": config.contrastive_k,
        "contrastive_weight": config.contrastive_weight,
        # A rerun continues from the latest complete checkpoint of an earlier (killed) run (a path or
        # URI each worker reads); within a run, Ray Train restores its own latest checkpoint after a
        # worker failure (get_checkpoint()).
        "resume_dir": resume_dir,
    }
