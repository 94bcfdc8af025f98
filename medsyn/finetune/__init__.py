"""LoRA fine-tuning of the generator: the instruction dataset (Ray Data) and the trainer (Ray Train).

medsyn finetune-data --notes train.jsonl --kg runs/kg --out runs/sft
medsyn finetune --dataset runs/sft --out runs/ft --num-workers 2
medsyn generate ... --engine hf --adapter runs/ft/adapter

Modules: `dataset` (instruction samples), `config` (options, input checks), `batches` (tokenize,
collate, batch order, loss), `loop` (the training loop), `contexts` (Ray Train worker or this process),
`checkpoints` (latest checkpoint, merge), `trainer` (`run_finetune`: the Ray Train run and the adapter).
"""

from medsyn.finetune.batches import answer_loss, collate, encode, epoch_batches
from medsyn.finetune.checkpoints import latest_checkpoint, merge_adapter
from medsyn.finetune.config import ADAPTER_META, FinetuneConfig, check_inputs
from medsyn.finetune.contexts import LocalContext, RayTrainContext
from medsyn.finetune.dataset import DatasetConfig, build_dataset
from medsyn.finetune.loop import loop_config, train_loop
from medsyn.finetune.trainer import dataset_from_notes, run_finetune

__all__ = [
    "ADAPTER_META",
    "DatasetConfig",
    "FinetuneConfig",
    "LocalContext",
    "RayTrainContext",
    "answer_loss",
    "build_dataset",
    "check_inputs",
    "collate",
    "dataset_from_notes",
    "encode",
    "epoch_batches",
    "latest_checkpoint",
    "loop_config",
    "merge_adapter",
    "run_finetune",
    "train_loop",
]
