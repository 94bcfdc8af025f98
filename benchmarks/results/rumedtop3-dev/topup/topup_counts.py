"""Allocation by the gates: per-code counts for a top-up run, from an evaluation's filter verdicts.

Each code gets enough new notes to reach `--kept-per-code` kept notes at the rate its first run kept
them (a code that kept none counts as keeping 1), at most `--max-per-code`. Prints `CODE=N,...` for
`medsyn generate --allocation explicit --counts`:

    .venv/bin/python benchmarks/results/rumedtop3-dev/topup/topup_counts.py runs/eval-fp01 --first-n 25
"""

import argparse
import math

import pyarrow.parquet as pq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir", help="an evaluation directory (medsyn evaluate --out)")
    parser.add_argument("--first-n", type=int, required=True, help="notes per code in the first run")
    parser.add_argument("--kept-per-code", type=int, default=15, help="kept notes wanted per code")
    parser.add_argument("--max-per-code", type=int, default=75, help="the most new notes for one code")
    args = parser.parse_args()
    if args.first_n <= 0 or args.kept_per_code < 0 or args.max_per_code < 0:
        parser.error(
            f"--first-n must be > 0 and --kept-per-code, --max-per-code >= 0; got {args.first_n}, "
            f"{args.kept_per_code}, {args.max_per_code}"
        )
    verdicts = pq.read_table(f"{args.eval_dir}/synthetic/synthetic.filtered.parquet").to_pandas()
    kept = verdicts.assign(kept=verdicts.filter_reason.isna()).groupby("code").kept.sum()
    counts = {}
    for code, k in sorted(kept.items()):
        need = max(0, args.kept_per_code - int(k))
        rate = max(int(k), 1) / args.first_n
        counts[code] = min(args.max_per_code, math.ceil(need / rate))
    print(",".join(f"{c}={n}" for c, n in counts.items() if n))


if __name__ == "__main__":
    main()
