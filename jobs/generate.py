"""Generate synthetic notes (a `ray job submit` entrypoint; same options as `medsyn generate`).

    python jobs/generate.py --codes J06,M54 --n 16 --language en --out runs/notes
    RAY_ADDRESS=http://head:8265 ray job submit --working-dir . -- \
        python jobs/generate.py --config gen.yaml --out /shared/notes

Inside a Ray job it joins the job's cluster; run directly it starts a local Ray.
"""

from __future__ import annotations

import sys

from medsyn.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
