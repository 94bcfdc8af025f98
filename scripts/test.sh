#!/usr/bin/env bash
# Install the test extra, then lint, type-check and run the whole test suite (what .ci/run calls).
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
.venv/bin/ruff check medsyn jobs serve tests benchmarks
.venv/bin/ruff format --check medsyn jobs serve tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
