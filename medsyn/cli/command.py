"""One way to build a subcommand from its config class: the flags, `--config FILE` and the call.

    add_command(sub, "generate", GenerateConfig, cmd_generate, help="...", description="...")

`cmd_generate(config, args)` receives the resolved config (defaults < YAML file < flags) and the parsed
arguments (for positionals such as `kg show CODE`); it returns the exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from medsyn.config import add_arguments, from_args

C = TypeVar("C")


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    config_cls: type[C],
    run: Callable[[C, argparse.Namespace], int],
    *,
    help: str,  # noqa: A002
    description: str | None = None,
    positionals: tuple[tuple[str, str], ...] = (),
) -> argparse.ArgumentParser:
    """Add subcommand `name` with a flag per field of `config_cls` (choices and defaults in `--help`),
    `--config FILE` (YAML; flags override it) and `positionals` ((name, help) pairs)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=description or help)
    for positional, positional_help in positionals:
        parser.add_argument(positional, help=positional_help)
    parser.add_argument("--config", help="YAML file of options (flags override it)")
    add_arguments(parser, config_cls)

    def call(args: argparse.Namespace) -> int:
        return run(from_args(config_cls, args), args)

    parser.set_defaults(func=call)
    return parser
