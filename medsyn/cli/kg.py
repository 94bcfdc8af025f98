"""`medsyn kg ...`: build, inspect and query the MKG."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from medsyn.cli.command import add_command
from medsyn.config import option
from medsyn.errors import ConfigError
from medsyn.kg import open_kg, write_kg
from medsyn.kg.build import KGBuildConfig, build_kg
from medsyn.kg.stats import kg_stats, read_label_set
from medsyn.paths import require_data_dir


@dataclass
class KGStatsConfig:
    kg: str = option("demo", help="KG: a directory built by `medsyn kg build`, 'demo', or bolt://HOST:PORT")
    codes: str | None = option(
        None, help="label set: comma-separated codes, a text file or a JSONL notes file"
    )
    json: bool = option(False, help="print JSON (top-level 'codes' keyed by code) instead of tables")


@dataclass
class KGShowConfig:
    kg: str = option("demo", help="KG: a directory built by `medsyn kg build`, 'demo', or bolt://HOST:PORT")
    language: Literal["ru", "en"] | None = option(None, help="only symptoms in this language")
    limit: int = option(30, help="at most this many symptoms and drugs to list")
    json: bool = option(False, help="print JSON instead of tables")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    kg = subparsers.add_parser("kg", help="build, inspect and query the Medical Knowledge Graph")
    sub = kg.add_subparsers(dest="kg_command", required=True, metavar="{build,stats,show,find,push,pull}")

    add_command(
        sub, "build", KGBuildConfig, cmd_build, help="build the MKG from the public data into a KG directory"
    )
    add_command(
        sub,
        "stats",
        KGStatsConfig,
        cmd_stats,
        help="node/edge counts by type and source, and coverage of a label set",
    )
    add_command(
        sub,
        "show",
        KGShowConfig,
        cmd_show,
        help="one disease with its symptoms (weights, sources) and drugs",
        positionals=(("code", "ICD-10 code, e.g. M54 or M54.5"),),
    )

    p = sub.add_parser("push", help="load a built KG into Neo4j (idempotent)")
    p.add_argument("kg_dir", help="KG directory built by `medsyn kg build` (or 'demo')")
    p.add_argument("--neo4j", default=None, help="Bolt URI, e.g. bolt://localhost:7687 (default: $NEO4J_URI)")
    p.add_argument(
        "--user", default=None, help="Neo4j user (default: $NEO4J_USER or neo4j; password: $NEO4J_PASSWORD)"
    )
    p.add_argument(
        "--database", default=None, help="Neo4j database (default: $NEO4J_DATABASE or the server's)"
    )
    p.add_argument("--replace", action="store_true", help="delete the medsyn graph there first")
    p.add_argument("--batch-size", type=int, default=5000, help="rows per write transaction (default: 5000)")
    p.add_argument(
        "--retry-seconds",
        type=float,
        default=30.0,
        help="how long a write keeps retrying while the server is unreachable or busy (default: 30)",
    )
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("pull", help="export a KG from Neo4j into a KG directory")
    p.add_argument("--neo4j", default=None, help="Bolt URI (default: $NEO4J_URI)")
    p.add_argument("--user", default=None, help="Neo4j user (default: $NEO4J_USER or neo4j)")
    p.add_argument(
        "--database", default=None, help="Neo4j database (default: $NEO4J_DATABASE or the server's)"
    )
    p.add_argument("--out", required=True, help="KG directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing KG directory")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("find", help="codes whose Russian or English title contains a text")
    p.add_argument("text", help="text to look for, e.g. 'астма' or 'asthma'")
    p.add_argument("--kg", default="demo", help="KG directory or 'demo' (default: demo)")
    p.add_argument("--limit", type=int, default=20, help="at most this many codes (default: 20)")
    p.set_defaults(func=cmd_find)


def cmd_build(config: KGBuildConfig, args: argparse.Namespace) -> int:
    if config.out is None:
        raise ConfigError("--out is required: the KG directory to write")
    from medsyn.storage import Location

    if Location.parse(config.out, option="--out").check().exists() and not config.overwrite:
        raise ConfigError(f"{str(config.out)!r} already exists; pass --overwrite to replace it")
    data_dir = require_data_dir(config.data_dir)
    tables, report = build_kg(data_dir, config)
    write_kg(tables, config.out, overwrite=config.overwrite)
    console = Console(stderr=True)
    console.print(f"built KG from {data_dir} in {report.seconds:.1f}s -> [bold]{config.out}[/bold]")
    for name, n in report.added.items():
        console.print(f"  {name:<18} {n:>8} added")
    for reason, n in report.skipped.items():
        console.print(f"  skipped {n:>6} rows  {reason}")
    console.print("  " + ", ".join(f"{k}={v}" for k, v in tables.counts().items()))
    return 0


def cmd_stats(config: KGStatsConfig, args: argparse.Namespace) -> int:
    store = open_kg(config.kg)
    codes = read_label_set(config.codes) if config.codes else None
    stats = kg_stats(store, codes, label_set="custom")
    if config.json:
        json.dump(stats, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    console = Console()
    table = Table(title=f"MKG {stats['kg']}")
    for col in ("type", "total", "by source"):
        table.add_column(col)
    for kind, section in (("node", stats["nodes"]), ("edge", stats["edges"])):
        for name, s in section.items():
            by_source = ", ".join(f"{k}: {v}" for k, v in s["by_source"].items())
            table.add_row(f"{kind} {name}", str(s["total"]), by_source)
    console.print(table)
    ls = stats["label_set"]
    console.print(
        f"label set {ls['name']}: {ls['n_codes']} codes, known {ls['known']}, "
        f"ru titles {ls['with_title_ru']}, en titles {ls['with_title_en']}, "
        f"with symptoms {ls['with_symptoms']}, with drugs {ls['with_drugs']}"
    )
    codes_table = Table()
    for col in ("code", "title (ru)", "title (en)", "symptoms ru/en", "drugs"):
        codes_table.add_column(col)
    for code, c in stats["codes"].items():
        codes_table.add_row(
            code,
            (c["title_ru"] or "-")[:40],
            (c["title_en"] or "-")[:40],
            f"{c.get('n_symptoms_ru', 0)}/{c.get('n_symptoms_en', 0)}",
            str(c["n_drugs"]),
        )
    console.print(codes_table)
    return 0


def cmd_show(config: KGShowConfig, args: argparse.Namespace) -> int:
    store = open_kg(config.kg)
    code = args.code.strip().upper()
    disease = store.disease(code)
    symptoms = store.symptoms(code, language=config.language, include_descendants=True)
    drugs = store.drugs(code, include_descendants=True)
    if config.json:
        out = {
            "disease": disease.__dict__,
            "children": store.children(code),
            "symptoms": [e.__dict__ for e in symptoms[: config.limit]],
            "drugs": [e.__dict__ for e in drugs[: config.limit]],
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    console = Console()
    console.print(
        f"[bold]{disease.code}[/bold] ({disease.level}) {disease.title_ru or '-'} / {disease.title_en or '-'}"
    )
    console.print(
        f"  block {disease.block or '-'}, chapter {disease.chapter or '-'}; "
        f"sources: {', '.join(disease.sources)}"
    )
    if store.children(code):
        console.print(f"  subcodes: {', '.join(store.children(code))}")
    table = Table(title=f"symptoms ({len(symptoms)})")
    for col in ("symptom", "lang", "weight", "source", "code", "evidence"):
        table.add_column(col)
    for e in symptoms[: config.limit]:
        table.add_row(e.name, e.language, f"{e.weight:g}", e.source, e.code, e.evidence or "")
    console.print(table)
    dtable = Table(title=f"drugs ({len(drugs)})")
    for col in ("drug", "source", "code", "evidence"):
        dtable.add_column(col)
    for d in drugs[: config.limit]:
        dtable.add_row(d.name, d.source, d.code, d.evidence or "")
    console.print(dtable)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from medsyn.kg.neo4j_store import Neo4jSettings, push

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.retry_seconds < 0:
        raise ConfigError(f"--retry-seconds must be >= 0 (0: no retry), got {args.retry_seconds:g}")
    settings = Neo4jSettings.from_env(
        args.neo4j, user=args.user, database=args.database, retry_seconds=args.retry_seconds
    )
    store = open_kg(args.kg_dir)
    start = time.perf_counter()
    counts = push(store.tables(), settings, replace=args.replace, batch_size=args.batch_size)
    Console(stderr=True).print(
        f"pushed {store.location()} to {settings.uri} in {time.perf_counter() - start:.1f}s: "
        + ", ".join(f"{k}={v}" for k, v in counts.items())
    )
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from medsyn.kg.neo4j_store import Neo4jSettings, fetch

    settings = Neo4jSettings.from_env(args.neo4j, user=args.user, database=args.database)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{str(out)!r} already exists; pass --overwrite to replace it")
    tables = fetch(settings)
    write_kg(tables, out, overwrite=args.overwrite)
    Console(stderr=True).print(
        f"pulled {settings.uri} -> {out}: " + ", ".join(f"{k}={v}" for k, v in tables.counts().items())
    )
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    store = open_kg(args.kg)
    for d in store.find(args.text, limit=args.limit):
        print(f"{d.code}\t{d.level}\t{d.title_ru or '-'}\t{d.title_en or '-'}")
    return 0
