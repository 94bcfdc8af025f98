"""Build the MKG from the public sources in a data directory.

medsyn kg build --data-dir ../shared/data --out runs/kg
tables, report = build_kg(Path("../shared/data"))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers import disease_ontology, icd10_ru, icd10_who, medi, rumedtop3, sider
from medsyn.kg.model import KGTables

Source = Literal["icd10_ru", "icd10_who", "rumedtop3", "disease_ontology", "medi", "sider"]
ALL_SOURCES: tuple[Source, ...] = get_args(Source)


@dataclass
class KGBuildConfig:
    data_dir: Path | None = option(
        None, help="public data directory (default: $MEDSYN_DATA_DIR or ../shared/data)"
    )
    out: str | None = option(None, help="KG directory to write (a path or a URI like s3://bucket/kg)")
    overwrite: bool = option(False, help="replace an existing KG directory")
    sources: list[Source] = option(default_factory=lambda: list(ALL_SOURCES), help="importers to run")
    train_notes: Path = option(
        rumedtop3.TRAIN_FILE,
        help="real train notes (JSONL idx/code) for symptom counts, relative to data_dir",
    )
    max_inherit_depth: int = option(3, help="DO levels a disease without symptoms may inherit them across")

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class BuildReport:
    added: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def build_kg(data_dir: Path, config: KGBuildConfig | None = None) -> tuple[KGTables, BuildReport]:
    """Run the importers in dependency order (hierarchy first) and merge them into one KG."""
    config = config or KGBuildConfig()
    if not {"icd10_ru", "icd10_who"} & set(config.sources):
        raise ConfigError("sources must include icd10_ru or icd10_who: every edge hangs on an ICD-10 code")
    start = time.perf_counter()
    builder = KGBuilder()
    report = BuildReport()
    steps = {
        "icd10_ru": lambda: icd10_ru.load(data_dir / icd10_ru.FILE, builder),
        "icd10_who": lambda: icd10_who.load(data_dir / icd10_who.FILE, builder),
        "rumedtop3": lambda: rumedtop3.load(
            data_dir / config.train_notes, data_dir / rumedtop3.MARKUP_FILE, builder
        ),
        "disease_ontology": lambda: disease_ontology.load(
            data_dir, builder, max_inherit_depth=config.max_inherit_depth
        ),
        "medi": lambda: medi.load(data_dir, builder),
        "sider": lambda: sider.load(data_dir, builder),
    }
    for name in ALL_SOURCES:
        if name in config.sources:
            report.added[name] = steps[name]()
    report.skipped = {f"{src}: {reason}": n for (src, reason), n in sorted(builder.skipped.items())}
    meta = {"data_dir": str(data_dir), "sources": ",".join(s for s in ALL_SOURCES if s in config.sources)}
    tables = builder.to_tables(meta)
    report.seconds = time.perf_counter() - start
    return tables, report
