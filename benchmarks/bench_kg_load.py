"""Load the built MKG and fetch every code's symptoms, against reading its Parquet files alone.

    .venv/bin/python benchmarks/bench_kg_load.py [--data-dir ../shared/data] [--repeat 5]

Both are measured in the same run (the machine is shared and noisy); the ratio is what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from medsyn.kg import EmbeddedStore, write_kg
from medsyn.kg.build import build_kg
from medsyn.kg.model import SCHEMAS
from medsyn.paths import require_data_dir


def read_parquet_only(kg_dir: Path) -> int:
    return sum(pq.read_table(kg_dir / f"{name}.parquet").num_rows for name in SCHEMAS)


def load_and_fetch(kg_dir: Path) -> int:
    store = EmbeddedStore(kg_dir)
    return sum(len(store.symptoms(code)) for code in store.codes())


def timed(fn, arg, repeat: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    times, result = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tables, report = build_kg(require_data_dir(args.data_dir))
    with tempfile.TemporaryDirectory() as tmp:
        kg_dir = write_kg(tables, Path(tmp) / "kg")
        base, rows = timed(read_parquet_only, kg_dir, args.repeat)
        full, edges = timed(load_and_fetch, kg_dir, args.repeat)
    n_codes = tables.diseases.num_rows
    print(f"KG: {tables.counts()} (built in {report.seconds:.1f}s)")
    print(f"read Parquet files alone        : {base * 1000:8.1f} ms  ({rows} rows)")
    print(f"load KG + symptoms of all codes : {full * 1000:8.1f} ms  ({n_codes} codes, {edges} edges)")
    # As every benchmark's ratio: baseline / measured (1.0: as fast as the baseline; higher is better).
    print(f"ratio parquet-only / load+fetch : {base / full:8.3f}   (median of {args.repeat})")


if __name__ == "__main__":
    main()
