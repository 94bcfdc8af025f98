#!/bin/bash
# The generation job's vLLM CPU threads, A/B on the same 120 notes of the shipped Russian generator
# (the rare-codes config, 3 notes per code): --threads 1 (a Ray worker's one thread, the behaviour
# before 2026-12-03) against the default (the node's cores / replicas: 2 here). Run from anywhere:
#   bash benchmarks/results/bench-2026-12-03/threads_ab.sh   (needs runs/kg: medsyn kg build ...)
cd "$(dirname "$0")/../../.." || exit 1   # the repository root
for t in 1 default; do
  extra=()
  [ "$t" = 1 ] && extra=(--threads 1)
  start=$(date +%s)
  .venv/bin/medsyn generate --config jobs/configs/rumedtop3_rare_generate.yaml \
    --n 120 --out "runs/threads-ab-$t" --overwrite "${extra[@]}" > "runs/threads-ab-$t.log" 2>&1
  rc=$?
  echo "threads $t: $(($(date +%s) - start)) s wall, rc $rc; job: $(.venv/bin/python -c \
    "import json, sys; print(json.load(open(sys.argv[1]))['this_run'])" "runs/threads-ab-$t/summary.json")"
done
# The same texts both ways? (sampled, seeded per note)
.venv/bin/python - <<'PY'
import pyarrow.parquet as pq
a, b = (pq.read_table(f"runs/threads-ab-{t}/shards").sort_by("row").column("text").to_pylist() for t in ("1", "default"))
print(f"same text: {sum(x == y for x, y in zip(a, b, strict=True))} of {len(a)} notes")
PY
