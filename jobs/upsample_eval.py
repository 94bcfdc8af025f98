"""Upsample the training set and evaluate the classifier (a `ray job submit` entrypoint; same options as
`medsyn evaluate`).

    python jobs/upsample_eval.py --train train.jsonl --test dev.jsonl --synthetic runs/notes --out runs/eval
    RAY_ADDRESS=http://head:8265 ray job submit --working-dir . -- \
        python jobs/upsample_eval.py --config eval.yaml --out /shared/eval

Inside a Ray job it joins the job's cluster; run directly it starts a local Ray.
"""

from __future__ import annotations

import sys

from medsyn.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
