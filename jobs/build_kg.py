"""Build the MKG from the public data and print its stats (a `ray job submit` entrypoint).

    python jobs/build_kg.py --out runs/kg [--data-dir ../shared/data] [--overwrite]
    ray job submit --working-dir . -- python jobs/build_kg.py --out /shared/medsyn/kg --overwrite

Without --data-dir it uses $MEDSYN_DATA_DIR or ../shared/data. The build is a single-process job: it
reads ~100k source rows in seconds, so it runs where the job driver runs.
"""

from __future__ import annotations

import sys

from medsyn.cli.main import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    out = argv[argv.index("--out") + 1] if "--out" in argv else "runs/kg"
    build_args = argv if "--out" in argv else [*argv, "--out", out]
    code = main(["kg", "build", *build_args])
    if code == 0:
        code = main(["kg", "stats", "--kg", out])
    sys.exit(code)
