"""LoRA fine-tuning of the generator: the instruction dataset (Ray Data) and the trainer (Ray Train).

medsyn finetune-data --notes train.jsonl --kg runs/kg --out runs/sft
medsyn finetune --dataset runs/sft --out runs/ft --num-workers 2
medsyn generate ... --engine hf --adapter runs/ft/adapter
"""

from medsyn.finetune.dataset import DatasetConfig, build_dataset
from medsyn.finetune.trainer import FinetuneConfig, run_finetune

__all__ = ["DatasetConfig", "FinetuneConfig", "build_dataset", "run_finetune"]
