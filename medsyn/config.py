"""Typed configs: dataclasses whose fields carry help text, loaded from YAML with CLI overrides.

Each command's options are one dataclass. `add_arguments` turns its fields into flags (`--out-dir`
for `out_dir`), `resolve` layers defaults < YAML file (`--config FILE`) < flags given on the command
line, and rejects unknown YAML keys by name.

A field whose type is itself such a dataclass is a *section* (as `EvaluateConfig.upsample`): in YAML
it is a mapping under its name (`upsample: {rare_below: 23}`) or its options are given flat
(`rare_below: 23`, as every option name is unique); on the command line each option has its flat flag
(`--rare-below`) and a dotted one (`--upsample.rare-below`).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from medsyn.errors import ConfigError

T = TypeVar("T")


def option(default: Any = None, *, help: str, default_factory: Any = None) -> Any:  # noqa: A002
    """A dataclass field with help text (shown by `--help`)."""
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _base_type(annotation: Any) -> Any:
    """`X | None` -> X; leaves other annotations as they are."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def choices(tp: Any) -> tuple[Any, ...] | None:
    """The values of a `Literal[...]` option, or of each item of a `list[Literal[...]]` (None for
    other types)."""
    if typing.get_origin(tp) is list:
        (tp,) = typing.get_args(tp) or (Any,)
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None


def check_choices(config: Any) -> None:
    """Raise ConfigError for a `Literal[...]` field of the dataclass `config` holding another value
    (None is allowed: it means "the default decides")."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        tp = _base_type(hints[f.name])
        values = choices(tp)
        value = getattr(config, f.name)
        if values is None or value is None:
            continue
        many = typing.get_origin(tp) is list
        bad = [v for v in (value if many else [value]) if v not in values]
        if bad:
            shown, which = (bad, "any") if many else (bad[0], "one")
            raise ConfigError(
                f"option {f.name!r}: {shown!r} is not valid; use {which} of {', '.join(map(str, values))}",
                option=f.name,
            )


def _parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _converter(tp: Any) -> Any:
    if typing.get_origin(tp) is list:
        return _parse_list
    if tp is Path:
        return Path
    if tp in (int, float, str):
        return tp
    return str


def sections(cls: type) -> dict[str, type]:
    """The section fields of a config dataclass: name -> the section's dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cls)
        if dataclasses.is_dataclass(hints[f.name]) and isinstance(hints[f.name], type)
    }


def add_arguments(parser: Any, cls: type, *, skip: tuple[str, ...] = (), section: str | None = None) -> None:
    """Add one `--flag` per dataclass field (a section's fields in an argument group of their own,
    each also as `--section.flag`); the default shown is the dataclass default."""
    hints = typing.get_type_hints(cls)
    nested = sections(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name in nested:
            continue
        tp = _base_type(hints[f.name])
        name = f.name.replace("_", "-")
        flags = ["--" + name] + ([f"--{section}.{name}"] if section else [])
        dest = f"{section}.{f.name}" if section else f.name
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        if default is not None and default != "":
            help_text += f" (default: {default})"
        if tp is bool:
            parser.add_argument(
                *flags, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif (values := choices(tp)) is not None and typing.get_origin(tp) is list:
            help_text += f" (comma-separated, any of: {', '.join(map(str, values))})"
            parser.add_argument(
                *flags, dest=dest, type=_parse_list, default=None, metavar=f.name.upper(), help=help_text
            )
        elif values is not None:
            parser.add_argument(*flags, dest=dest, choices=values, default=None, help=help_text)
        else:
            parser.add_argument(
                *flags, dest=dest, type=_converter(tp), default=None, metavar=f.name.upper(), help=help_text
            )
    for name, section_cls in nested.items():
        help_text = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("help", "")
        group = parser.add_argument_group(f"{name} options", help_text)
        add_arguments(group, section_cls, section=name)


def load_yaml(path: Path | str) -> dict[str, Any]:
    """Read a YAML mapping; a clear error for a missing file or a non-mapping document."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of option: value")
    return data


def _coerce(cls: type, name: str, value: Any) -> Any:
    tp = _base_type(typing.get_type_hints(cls)[name])
    if value is None:
        return None
    if (values := choices(tp)) is not None and typing.get_origin(tp) is not list and value not in values:
        raise ConfigError(
            f"option {name!r}: {value!r} is not valid; use one of {', '.join(map(str, values))}", option=name
        )
    if typing.get_origin(tp) is list:
        return _parse_list(value) if isinstance(value, str) else list(value)
    if tp is Path:
        return Path(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"option {name!r} must be true or false, got {value!r}", option=name)
    if tp in (int, float) and not isinstance(value, bool):
        try:
            return tp(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"option {name!r} must be a {tp.__name__}, got {value!r}", option=name) from exc
    return value


def resolve(cls: type[T], *, yaml_values: dict[str, Any] | None = None, **overrides: Any) -> T:
    """Build `cls` from its defaults, then `yaml_values`, then the non-None `overrides` (a section's
    options nested under its name or flat; overrides of a section's options as `section.option`)."""
    nested = sections(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in nested]  # type: ignore[arg-type]
    owner = {f.name: s for s, section_cls in nested.items() for f in dataclasses.fields(section_cls)}
    values: dict[str, Any] = {}
    section_yaml: dict[str, dict[str, Any]] = {s: {} for s in nested}
    for key, value in (yaml_values or {}).items():
        key = key.replace("-", "_")
        if key in nested:
            if not isinstance(value, dict):
                raise ConfigError(f"option {key!r} is a section: give a mapping of its options", option=key)
            section_yaml[key].update(value)
        elif key in owner:
            section_yaml[owner[key]][key] = value
        elif key in names:
            values[key] = _coerce(cls, key, value)
        else:
            valid = [*names, *nested, *owner]
            raise ConfigError(f"unknown config option {key!r}; valid options: {', '.join(valid)}", option=key)
    for key, value in overrides.items():
        if key in names and value is not None:
            values[key] = _coerce(cls, key, value)
    for name, section_cls in nested.items():
        prefix = name + "."
        given = {k[len(prefix) :]: v for k, v in overrides.items() if k.startswith(prefix)}
        values[name] = resolve(section_cls, yaml_values=section_yaml[name], **given)
    return cls(**values)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """`resolve` with the YAML file named by `args.config` (if any) and the flags in `args`."""
    yaml_values = load_yaml(args.config) if getattr(args, "config", None) else None
    return resolve(cls, yaml_values=yaml_values, **vars(args))
