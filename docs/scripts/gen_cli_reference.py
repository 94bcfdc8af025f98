"""Writes the CLI reference page from medsyn's own argparse parsers at build time (mkdocs-gen-files).

mkdocs build --strict        # runs this; the page is reference/cli.md in the built site
"""

from __future__ import annotations

import argparse
import os

import mkdocs_gen_files

from medsyn.cli.main import build_parser

os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal's width: fix it for a stable page


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def walk(parser: argparse.ArgumentParser, path: list[str]) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every command under `parser`, depth first: `medsyn`, `medsyn kg`, `medsyn kg build`, ..."""
    found = [(path, parser)]
    for name, child in subcommands(parser).items():
        found += walk(child, [*path, name])
    return found


lines = [
    "# CLI reference",
    "",
    "Every command's `--help`, generated from medsyn's argparse parsers when the site is built. Every",
    "command also takes `--config FILE.yaml` with the same option names (flags override the file).",
    "",
]
for path, parser in walk(build_parser(), ["medsyn"]):
    if len(path) > 1:
        lines += [f"{'#' * min(len(path), 3)} `{' '.join(path)}`", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]

with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write("\n".join(lines))
