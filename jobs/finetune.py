"""LoRA fine-tuning on Ray Train (a `ray job submit` entrypoint; same options as `medsyn finetune`).

    python jobs/finetune.py --dataset runs/sft --out runs/ft --num-workers 2
    RAY_ADDRESS=http://head:8265 ray job submit --working-dir . -- \
        python jobs/finetune.py --config ft.yaml --use-gpu --num-workers 8 --storage-path /shared/ray

Build the dataset first with `medsyn finetune-data` (or `python jobs/finetune.py data ...`).
"""

from __future__ import annotations

import sys

from medsyn.cli.main import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["data"]:
        sys.exit(main(["finetune-data", *sys.argv[2:]]))
    sys.exit(main(["finetune", *sys.argv[1:]]))
