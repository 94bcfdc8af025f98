#!/usr/bin/env bash
# Install the test extra, then lint, type-check and run the whole test suite (what .ci/run calls).
#   bash scripts/test.sh [pytest args]
#   bash scripts/test.sh --quick [pytest args]   # the edit-test loop: lint, types and the tests not marked
#                                                # integration (no cluster, vLLM, Neo4j or model started)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
if [ "$quick" = 0 ] || [ ! -x .venv/bin/pytest ]; then bash scripts/install.sh test; fi
.venv/bin/ruff check medsyn jobs serve tests benchmarks scripts docs/scripts
.venv/bin/ruff format --check medsyn jobs serve tests benchmarks scripts docs/scripts
.venv/bin/mypy
if [ "$quick" = 1 ]; then
  exec .venv/bin/python -m pytest -m "not integration" -q --durations=10 "$@"
fi

# Debian's chromium: the headless browser the docs tests render the site in (installed once, as root).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the docs tests need Debian's chromium: run 'apt-get install chromium' as root" >&2; exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi

# A real Neo4j server for the tests (Community 5.26 from Maven Central, cached in ~/.m2), stopped on exit.
neo4j_dir=$(mktemp -d /tmp/medsyn-neo4j-XXXXXX)
trap '.venv/bin/python scripts/neo4j/server.py stop --dir "$neo4j_dir"; rm -rf "$neo4j_dir"' EXIT
password=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(12))')
settings=$(.venv/bin/python scripts/neo4j/server.py start --dir "$neo4j_dir" --password "$password" --lean)
eval "$settings"
echo "Neo4j for the tests at $NEO4J_URI"

.venv/bin/python -m pytest --durations=25 "$@"
