"""`medsyn export RUN`: a run's kept set in the real notes' own layout (JSONL, CSV or Parquet).

medsyn export runs/notes --format jsonl --out synthetic.jsonl   # then: cat train.jsonl synthetic.jsonl
"""

from __future__ import annotations

import argparse

from rich.console import Console

from medsyn.pipeline.kept import EXPORT_FORMATS, export_kept


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run's kept notes in the real notes' layout (jsonl, csv, parquet)",
        description="Write the notes of RUN/kept/ (those that passed the filters) with the text, code and id "
        "columns named as in the run's --notes, ready to concatenate with the real training notes.",
    )
    p.add_argument("run_dir", help="a generation run directory: a path or a URI")
    p.add_argument(
        "--format", choices=EXPORT_FORMATS, default="jsonl", help="the file format (default: jsonl)"
    )
    p.add_argument("--out", required=True, help="the file to write: a path or a URI")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    n = export_kept(args.run_dir, args.format, args.out, overwrite=args.overwrite)
    Console(stderr=True).print(f"[bold]{n}[/bold] kept notes of {args.run_dir} written to {args.out}")
    return 0
