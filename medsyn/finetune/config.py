"""The fine-tuning run's options (`FinetuneConfig`) and the input checks made before any Ray work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError, DataError
from medsyn.finetune.tasks import TASKS, Task
from medsyn.storage import Location

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
    max_notes_per_code: int = option(
        0, help="with --notes, note tasks: at most this many real notes per code, a seeded choice (0: all)"
    )
    out: str | None = option(
        None, help="run directory (a path or URI): adapter/, merged/ and (default) the Ray Train storage"
    )
    base_model: str = option(
        None,
        help="base model directory or packaged model name (default: the --language's shipped generator's "
        "base, ru: gemma3-270m; else smollm2-135m-instruct)",
    )
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
    val_max_samples: int = option(
        0, help="validation loss on at most this many val samples, the same seeded choice each time (0: all)"
    )
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
    condition_dropout: float = option(
        0.0,
        help="guided decoding: share of the title-conditioned note samples trained with the disease blanked "
        "(the template's blank prompt: guidance's no_disease negative); 0 = off",
    )
    contrastive_k: int = option(
        0,
        help="guided decoding: confuser titles (the codes with the most train notes) each note is contrasted "
        "with: its likelihood under its own title against theirs (GeDi, FewGen); 0 = off",
    )
    contrastive_weight: float = option(
        0.5, help="weight of the class-contrastive term (with --contrastive-k)"
    )

    def __post_init__(self) -> None:
        from medsyn.generators import generator_for
        from medsyn.models import DEFAULT_MODEL

        check_choices(self)
        if self.base_model is None:  # a model that writes the language: Russian notes need Gemma's vocabulary
            generator = generator_for(self.language)
            self.base_model = generator.base_model if generator else DEFAULT_MODEL
        if self.out is None:
            raise ConfigError("--out is required", option="out")
        if (self.dataset is None) == (self.notes is None):
            raise ConfigError("give one of --dataset (built by `medsyn finetune-data`) or --notes")
        for name in ("lora_r", "lora_alpha", "batch_size", "max_length", "num_workers", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.val_max_samples < 0:
            raise ConfigError(
                f"--val-max-samples must be >= 0 (0: all), got {self.val_max_samples}",
                option="val_max_samples",
            )
        if self.epochs < 1 and self.max_steps < 1:
            raise ConfigError("need --epochs >= 1 or --max-steps >= 1")
        if not 0 <= self.condition_dropout < 1:
            raise ConfigError(
                f"--condition-dropout must be in [0, 1) (0 = off), got {self.condition_dropout}",
                option="condition_dropout",
            )
        if self.contrastive_k < 0 or self.contrastive_weight < 0:
            raise ConfigError(
                f"--contrastive-k and --contrastive-weight must be >= 0, got {self.contrastive_k} and "
                f"{self.contrastive_weight}",
                option="contrastive_k",
            )


def read_split(dataset: Location, split: str) -> list[dict[str, Any]]:
    """The rows of one split (OUT/dataset/<split>/*.parquet, on any storage); [] if it has none."""
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
    train, val = read_split(dataset, "train"), read_split(dataset, "val")
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
