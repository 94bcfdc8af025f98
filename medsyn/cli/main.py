"""`medsyn` console command.

medsyn kg build --data-dir ../shared/data --out runs/kg
medsyn kg stats --kg runs/kg --json
medsyn kg show M54 --kg runs/kg
"""

from __future__ import annotations

import argparse
import sys

from medsyn import __version__
from medsyn.cli import evaluate, export, finetune, generate, kg, quality, serve
from medsyn.errors import MedsynError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medsyn",
        description="Synthetic clinical notes for ICD-10 codes, grounded on a Medical Knowledge Graph.",
    )
    parser.add_argument("--version", action="version", version=f"medsyn {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{kg,generate,quality,export,evaluate,serve,finetune-data,finetune}",
    )
    kg.add_parser(sub)
    generate.add_parser(sub)
    quality.add_parser(sub)
    export.add_parser(sub)
    evaluate.add_parser(sub)
    serve.add_parser(sub)
    finetune.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a bad flag or choice (2: argparse printed why)
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except MedsynError as exc:
        print(f"medsyn: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
