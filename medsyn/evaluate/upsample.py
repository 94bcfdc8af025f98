"""Training sets for the upsampling experiment: real notes, synthetic notes, and the volume control.

    sets = training_sets(train, {"synthetic": kept}, UpsampleConfig(), seed=0)

Configuration names (`LABEL` is the synthetic set's label, `synthetic` when there is one set):
- `real`: the real training notes only;
- `LABEL`: synthetic notes only;
- `real+LABEL`, `real+LABEL:rare`, `real+LABEL:target`: real notes plus synthetic notes, all of them,
  only for rare codes (fewer than `rare_below` real notes; by default the lower quartile), or topping
  each code up to `target_count`;
- `real+replicated(LABEL)`, `...:rare`, `...:target`: real notes plus copies of real notes of the same
  codes in the same numbers as the synthetic notes added: the control that separates a real gain from
  mere volume;
- `real-oot` and `real-oot+LABEL`: the paper's out-of-training setting: the real notes of some codes
  (`oot_codes`) are removed, then synthetic notes are the only notes of those codes;
  `real-oot+LABEL:rare` adds the synthetic notes of every code that is rare without the OOT codes' real
  notes (the OOT codes and the rare codes), as a user upsampling a set that lacks some codes would, so
  the OOT codes are not the only ones taught by synthetic notes.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from medsyn.config import option
from medsyn.errors import ConfigError

RULES = ("all", "rare", "target")
_NAME = re.compile(
    r"^(real|real-oot|real\+replicated\((?P<rep>[^)]+)\)|(?P<mix>real\+|real-oot\+)?(?P<set>[^:+()]+))(:(?P<rule>\w+))?$"
)


@dataclass
class UpsampleConfig:
    configs: list[str] = option(
        default_factory=list,
        help="training configurations to run (default: every one the synthetic sets allow; see "
        "medsyn.evaluate.upsample)",
    )
    rare_below: int = option(
        0,
        help="rule rare: a code with fewer real training notes is rare (0: the lower quartile of counts)",
    )
    target_count: int = option(50, help="rule target: top every code up to this many training notes")
    oot_codes: list[str] = option(
        default_factory=list,
        help="out-of-training codes (default: a seeded oot_fraction of the synthetic codes)",
    )
    oot_fraction: float = option(0.1, help="share of the synthetic set's codes held out of real training")
    oot_seed: int = option(
        0, help="seed of the drawn out-of-training codes: one set per run, the same for every training seed"
    )


@dataclass
class TrainingSet:
    name: str
    note_ids: list[str]
    texts: list[str]
    codes: list[str]
    sources: list[str]
    unmatched: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def by_source(self) -> dict[str, int]:
        return dict(Counter(self.sources))


def default_configs(labels: list[str]) -> list[str]:
    names = ["real"]
    for label in labels:
        names.append(label)
        for rule in RULES:
            suffix = "" if rule == "all" else f":{rule}"
            names += [f"real+{label}{suffix}", f"real+replicated({label}){suffix}"]
    names.append("real-oot")
    names += [f"real-oot+{label}{rule}" for label in labels for rule in ("", ":rare")]
    return names


def check_configs(names: list[str], labels: list[str]) -> None:
    """Refuse, naming it and what is valid, a configuration name these synthetic sets (`labels`) do not
    allow: called before any work is done or any output written."""
    for name in names:
        m = _NAME.match(name)
        rule = (m.group("rule") if m else None) or "all"
        label = (m.group("rep") or m.group("set")) if m else None
        if not m or rule not in RULES or (label is None and name not in ("real", "real-oot")):
            raise ConfigError(
                f"unknown training configuration {name!r}; valid: {', '.join(default_configs(labels))}",
                option="configs",
            )
        if label is None:
            continue
        if label not in labels:
            raise ConfigError(
                f"configuration {name!r} names synthetic set {label!r}; sets: {', '.join(labels)}",
                option="configs",
            )
        if m.group("mix") == "real-oot+" and rule == "target":
            raise ConfigError(
                f"configuration {name!r}: real-oot+ takes rule rare or none (valid: real-oot+{label}, "
                f"real-oot+{label}:rare)",
                option="configs",
            )


def pick_oot_codes(config: UpsampleConfig, synthetic: dict[str, pa.Table], real_codes: set[str]) -> list[str]:
    """The out-of-training codes: `oot_codes`, else a draw keyed by `oot_seed` alone, so every training
    seed of a run removes (and scores) the same codes."""
    if config.oot_codes:
        return sorted(config.oot_codes)
    codes = sorted(set().union(*[set(t["code"].to_pylist()) for t in synthetic.values()]) & real_codes)
    k = max(1, round(config.oot_fraction * len(codes))) if codes else 0
    rng = np.random.default_rng([config.oot_seed, 7])
    return sorted(rng.choice(codes, size=k, replace=False).tolist()) if k else []


class _Builder:
    def __init__(
        self, train: pa.Table, synthetic: dict[str, pa.Table], config: UpsampleConfig, seed: int
    ) -> None:
        self.config = config
        self.seed = seed
        self.real_ids = train["note_id"].to_pylist()
        self.real_texts = train["text"].to_pylist()
        self.real_codes = train["code"].to_pylist()
        self.real_by_code: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(self.real_codes):
            self.real_by_code[c].append(i)
        self.synthetic = synthetic
        self.oot = pick_oot_codes(config, synthetic, set(self.real_codes))
        counts = [len(v) for v in self.real_by_code.values()]
        self.rare_below = config.rare_below or (int(np.quantile(counts, 0.25)) if counts else 1)

    def rng(self, *key: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, *(zlib.crc32(k.encode()) for k in key)])

    def real(self, *, drop: set[str] = frozenset()) -> TrainingSet:  # type: ignore[assignment]
        idx = [i for i, c in enumerate(self.real_codes) if c not in drop]
        return TrainingSet(
            "real",
            [self.real_ids[i] for i in idx],
            [self.real_texts[i] for i in idx],
            [self.real_codes[i] for i in idx],
            ["real"] * len(idx),
        )

    def synthetic_rows(
        self,
        label: str,
        rule: str,
        *,
        only: set[str] | None = None,
        dropped: Collection[str] = (),
    ) -> list[int]:
        """The synthetic rows a rule adds (of the codes in `only`, if given), counting the real notes of
        the base set (`dropped`: codes whose real notes it lacks)."""
        table = self.synthetic[label]
        codes = table["code"].to_pylist()
        by_code: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(codes):
            if only is None or c in only:
                by_code[c].append(i)
        rows: list[int] = []
        for code, idx in sorted(by_code.items()):
            n_real = 0 if code in dropped else len(self.real_by_code.get(code, []))
            if rule == "rare" and n_real >= self.rare_below:
                continue
            if rule == "target":
                want = max(0, self.config.target_count - n_real)
                if want < len(idx):
                    idx = sorted(self.rng(label, rule, code).choice(idx, size=want, replace=False).tolist())
            rows += idx
        return rows

    def add_synthetic(self, base: TrainingSet, name: str, label: str, rows: list[int]) -> TrainingSet:
        table = self.synthetic[label]
        ids, texts, codes = (table[c].to_pylist() for c in ("note_id", "text", "code"))
        return TrainingSet(
            name,
            base.note_ids + [ids[i] for i in rows],
            base.texts + [texts[i] or "" for i in rows],
            base.codes + [codes[i] for i in rows],
            base.sources + [label] * len(rows),
        )

    def add_replicas(self, base: TrainingSet, name: str, label: str, rows: list[int]) -> TrainingSet:
        codes = self.synthetic[label]["code"].to_pylist()
        wanted = Counter(codes[i] for i in rows)
        out = TrainingSet(name, list(base.note_ids), list(base.texts), list(base.codes), list(base.sources))
        for code, count in sorted(wanted.items()):
            pool = self.real_by_code.get(code, [])
            if not pool:
                out.unmatched[code] = count
                continue
            for i in self.rng(label, "replicate", code).choice(pool, size=count, replace=True):
                out.note_ids.append(self.real_ids[i])
                out.texts.append(self.real_texts[i])
                out.codes.append(code)
                out.sources.append("replicated")
        return out

    def build(self, name: str) -> TrainingSet:
        check_configs([name], list(self.synthetic))
        m = _NAME.match(name)
        assert m is not None
        rule = m.group("rule") or "all"
        if name == "real":
            return self.real()
        if name == "real-oot":
            out = self.real(drop=set(self.oot))
            out.name = name
            return out
        label = m.group("rep") or m.group("set")
        if m.group("rep"):
            return self.add_replicas(self.real(), name, label, self.synthetic_rows(label, rule))
        mix = m.group("mix")
        if mix == "real+":
            return self.add_synthetic(self.real(), name, label, self.synthetic_rows(label, rule))
        if mix == "real-oot+":
            oot = set(self.oot)
            only = None if rule == "rare" else oot
            rows = self.synthetic_rows(label, rule, only=only, dropped=oot)
            return self.add_synthetic(self.real(drop=oot), name, label, rows)
        empty = TrainingSet(name, [], [], [], [])
        return self.add_synthetic(empty, name, label, self.synthetic_rows(label, rule))

    def valid(self) -> list[str]:
        return default_configs(list(self.synthetic))


@dataclass
class Plan:
    sets: list[TrainingSet]
    oot_codes: list[str]
    rare_below: int


def training_sets(
    train: pa.Table, synthetic: dict[str, pa.Table], config: UpsampleConfig, *, seed: int = 0
) -> Plan:
    """The training sets of every configuration in `config.configs` (or the defaults), `real` first."""
    builder = _Builder(train, synthetic, config, seed)
    names = config.configs or builder.valid()
    names = ["real", *[n for n in names if n != "real"]]
    return Plan([builder.build(n) for n in names], builder.oot, builder.rare_below)
