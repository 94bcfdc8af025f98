"""The upsampling experiment: filter synthetic notes, check privacy, train and test a classifier per
training configuration and seed, and write the report.

    medsyn evaluate --train train.jsonl --test dev.jsonl --synthetic runs/notes --out runs/eval
    python jobs/upsample_eval.py --config eval.yaml          # same, as a Ray job

Each (configuration, seed) is one Ray task; without Ray (`--no-use-ray`) they run one after another.
The test notes are read for scoring, and to keep the synthetic notes clean of them (a run that showed a
test note in a prompt is refused; a note that copies one is removed): never for training, the other
filters, privacy or example selection.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError, DataError
from medsyn.evaluate.classifiers import Classifier, TfidfClassifier, TfidfConfig
from medsyn.evaluate.metrics import (
    KS,
    bootstrap_ci,
    bootstrap_indices,
    hit_metrics,
    hits,
    paired_delta,
    rank_of_truth,
)
from medsyn.evaluate.privacy import PrivacyConfig, privacy_check
from medsyn.evaluate.synthetic import read_synthetic
from medsyn.evaluate.transformer import TransformerClassifier, TransformerConfig
from medsyn.evaluate.upsample import TrainingSet, UpsampleConfig, check_configs, training_sets
from medsyn.notes import load_notes
from medsyn.pipeline.kept import read_kept
from medsyn.pipeline.rundir import RUN_FILE
from medsyn.quality.decontamination import refuse_test_examples
from medsyn.quality.filters import FilterConfig, apply_filters
from medsyn.quality.gates import RealReference, quality_gates
from medsyn.storage import Location, staged_dir


@dataclass
class EvaluateConfig:
    train: str | None = option(
        None,
        help="real training notes (JSONL/CSV/Parquet, path or URI); the generator's examples came from here",
    )
    test: str | None = option(None, help="real test notes (a path or URI), used for scoring only")
    synthetic: list[str] = option(
        default_factory=list, help="synthetic sets: generation run directories (paths, URIs), comma-separated"
    )
    out: str | None = option(
        None, help="directory (a path or URI) for report.json (written last), report.md, plots and tables"
    )
    overwrite: bool = option(False, help="replace an existing report in --out")
    allow_dry_run: bool = option(
        False, help="accept --synthetic sets written by engine dry-run (placeholders)"
    )
    text_column: str | None = option(
        None, help="text column of the real notes (default: text, note or symptoms)"
    )
    code_column: str = option("code", help="code column of the real notes")
    classifier: Classifier = option(
        "tfidf",
        help="classifier: tfidf (n-gram TF-IDF + linear SVM) or transformer (fine-tuned on Ray Train)",
    )
    seeds: int = option(3, help="seeds per configuration (classifier and sampling seeds seed..seed+seeds-1)")
    seed: int = option(0, help="first seed")
    bootstrap: int = option(1000, help="bootstrap resamples of the test set for the intervals")
    use_ray: bool = option(True, help="train the (configuration, seed) pairs as Ray tasks")
    ray_address: str | None = option(
        None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)"
    )
    # Sections: in YAML a mapping under the name or the options flat; flags --option or --section.option.
    filter: FilterConfig = option(default_factory=FilterConfig, help="the filters on the synthetic notes")
    upsample: UpsampleConfig = option(
        default_factory=UpsampleConfig, help="the training configurations: rare and out-of-training codes"
    )
    privacy: PrivacyConfig = option(
        default_factory=PrivacyConfig, help="the privacy check against real notes"
    )
    tfidf: TfidfConfig = option(default_factory=TfidfConfig, help="classifier tfidf")
    transformer: TransformerConfig = option(
        default_factory=TransformerConfig, help="classifier transformer (Ray Train)"
    )

    def __post_init__(self) -> None:
        check_choices(self)
        for name in ("train", "test", "out"):
            if getattr(self, name) is None:
                raise ConfigError(f"--{name} is required", option=name)
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds}", option="seeds")
        if self.bootstrap < 10:
            raise ConfigError(f"--bootstrap must be >= 10, got {self.bootstrap}", option="bootstrap")

    def settings(self) -> dict[str, Any]:
        """Every option by its flat name (the sections' too), as the report records them."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out.update(asdict(value) if f.name in SECTIONS else {f.name: value})
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


SECTIONS = ("filter", "upsample", "privacy", "tfidf", "transformer")


def fit_and_rank(
    texts: list[str],
    codes: list[str],
    test_texts: list[str],
    test_codes: list[str],
    tfidf: TfidfConfig,
    seed: int,
) -> np.ndarray:
    """Train one TF-IDF classifier and return the rank of each test note's true code (-1: unseen code)."""
    clf = TfidfClassifier(tfidf, seed=seed).fit(texts, codes)
    return rank_of_truth(clf.scores(test_texts), clf.classes, test_codes)


def _run_kg(path: str | Path) -> Any:
    """The MKG index of the KG a generation run was planned on (its run.json's --kg), for kg_consistency."""
    from medsyn.pipeline.kept import run_config, symptom_index

    config = run_config(Location.parse(path, option="--synthetic")) or {}
    return symptom_index(config.get("kg"), config.get("language", "ru"))


def _run_notes(path: str | Path) -> pa.Table | None:
    """The real notes a generation run took its examples from (its run.json's --notes), if readable."""
    loc = Location.parse(path, option="--synthetic")
    if not loc.join(RUN_FILE).is_file():
        return None
    config = loc.join(RUN_FILE).read_json().get("config", {})
    if not config.get("notes"):
        return None
    try:
        return load_notes(
            config["notes"],
            text_column=config.get("text_column"),
            code_column=config.get("code_column", "code"),
        )
    except DataError:
        return None  # moved or gone: the ids are still checked


def _write_parquet(table: pa.Table, path: Path) -> None:
    Location.parse(path).write_parquet(table)


def _prepare_out(config: EvaluateConfig) -> Location:
    out = Location.parse(config.out, option="--out").check()  # type: ignore[arg-type]
    if out.children():
        if not config.overwrite:
            raise ConfigError(f"{out} is not empty; pass --overwrite to replace the report it holds")
        for entry in out.children():
            entry.delete()
    return out


def run_fits(
    jobs: list[tuple[TrainingSet, int]], test_texts: list[str], test_codes: list[str], config: EvaluateConfig
) -> list[np.ndarray]:
    """Train one classifier per (training set, seed) and return each one's rank of every test note's
    true code, in `jobs` order: as Ray tasks (`config.use_ray`, the texts in the object store once) or
    in this process; both give the same ranks."""
    if not jobs:
        return []
    tfidf = config.tfidf
    if config.classifier == "transformer":
        from medsyn.ray_env import init_ray

        init_ray(config.ray_address)
        storage = Location.parse(config.out).join("classifier-runs").uri  # type: ignore[arg-type]
        ranks = []
        for s, seed in jobs:
            name = re.sub(r"[^\w.-]+", "_", f"{s.name}-seed{seed}")
            clf = TransformerClassifier(config.transformer, seed=seed, storage=storage, name=name)
            clf.fit(s.texts, s.codes)
            ranks.append(rank_of_truth(clf.scores(test_texts), clf.classes, test_codes))
        return ranks
    if not config.use_ray:
        from tqdm import tqdm

        return [
            fit_and_rank(s.texts, s.codes, test_texts, test_codes, tfidf, seed)
            for s, seed in tqdm(jobs, desc="train", unit="fit")
        ]
    import ray

    from medsyn.ray_env import init_ray

    init_ray(config.ray_address)
    # Every distinct (text, code) goes into the object store once; each (configuration, seed) task gets
    # the references and its rows' positions, not a copy of its training set.
    pool: dict[tuple[str, str], int] = {}
    positions = [
        np.fromiter((pool.setdefault(tc, len(pool)) for tc in zip(s.texts, s.codes, strict=True)), np.int64)
        for s, _ in jobs
    ]
    texts_ref = ray.put([t for t, _ in pool])
    codes_ref = ray.put([c for _, c in pool])
    test_ref, test_codes_ref = ray.put(test_texts), ray.put(test_codes)
    remote = ray.remote(num_cpus=1)(_fit_and_rank_pooled)
    refs = [
        remote.remote(texts_ref, codes_ref, idx, test_ref, test_codes_ref, tfidf, seed)
        for idx, (_, seed) in zip(positions, jobs, strict=True)
    ]
    return list(ray.get(refs))


def _fit_and_rank_pooled(
    texts: list[str],
    codes: list[str],
    idx: np.ndarray,
    test_texts: list[str],
    test_codes: list[str],
    tfidf: TfidfConfig,
    seed: int,
) -> np.ndarray:
    return fit_and_rank([texts[i] for i in idx], [codes[i] for i in idx], test_texts, test_codes, tfidf, seed)


def run_evaluate(config: EvaluateConfig, *, progress: bool = True) -> dict[str, Any]:
    """Filter the synthetic sets, check their privacy, train a classifier per configuration and seed,
    and write report.json (last), report.md and plots into `config.out`.

    Args:
        config: the real train/test notes, the synthetic run directories, the configurations and the
            classifier; see `EvaluateConfig`.
        progress: show a progress bar of the trained classifiers.

    Returns:
        The report (as in report.json): Hit@k per configuration with paired bootstrap intervals against
        real and against the volume control, rare and out-of-training codes, gates, filters, privacy.

    Raises:
        ConfigError: a bad option (a configuration name, a filter, an existing --out without --overwrite).
        DataError: unreadable notes, a synthetic set that is not a medsyn run, notes in both train and test.

    Examples:
        >>> from medsyn.evaluate import EvaluateConfig, run_evaluate
        >>> report = run_evaluate(EvaluateConfig(train="train.jsonl", test="dev.jsonl",
        ...                                      synthetic=["runs/notes"], out="runs/eval"))
        >>> report["configs"]["real+synthetic"]["hit@3"]  # doctest: +SKIP
    """
    started = time.time()
    train = load_notes(config.train, text_column=config.text_column, code_column=config.code_column)  # type: ignore[arg-type]
    test = load_notes(config.test, text_column=config.text_column, code_column=config.code_column)  # type: ignore[arg-type]
    shared = set(train["note_id"].to_pylist()) & set(test["note_id"].to_pylist())
    if shared:
        raise DataError(f"{len(shared)} note ids are in both --train and --test (e.g. {sorted(shared)[:3]})")
    if not config.synthetic:
        raise ConfigError("--synthetic: name at least one generation run directory")
    labels = (
        ["synthetic"]
        if len(config.synthetic) == 1
        else [Location.parse(p, option="--synthetic").name for p in config.synthetic]
    )
    if len(set(labels)) != len(labels):
        raise ConfigError(f"synthetic sets need distinct directory names, got {labels}")
    check_configs(config.upsample.configs, labels)  # before --out is touched
    with staged_dir(_prepare_out(config), last="report.json") as out:
        return _experiment(config, train, test, labels, out, started)


def _experiment(
    config: EvaluateConfig, train: pa.Table, test: pa.Table, labels: list[str], out: Path, started: float
) -> dict[str, Any]:
    real_texts, real_codes = train["text"].to_pylist(), train["code"].to_pylist()
    test_texts = test["text"].to_pylist()
    kept: dict[str, pa.Table] = {}
    filters: dict[str, Any] = {}
    privacy: dict[str, Any] = {}
    gates: dict[str, Any] = {}
    reference = RealReference.build(train, seed=config.seed)  # the train notes only, never the test
    (out / "synthetic").mkdir()
    filter_config, privacy_config = config.filter, config.privacy
    for label, path in zip(labels, config.synthetic, strict=True):
        table = read_synthetic(path, name=label, allow_dry_run=config.allow_dry_run)
        # Before the filters: the set as generated. The test notes are scored by the drift gate (the share
        # of real notes of the same codes that the train classifier gives to a frequent code), not read.
        held_out = (test["text"].to_pylist(), [str(c) for c in test["code"].to_pylist()])
        gates[label] = quality_gates(table, reference, held_out=held_out)
        # A run whose prompts showed test notes is refused; notes that copy a test note are removed.
        refuse_test_examples(table, _run_notes(path), test, str(config.test))
        # The run's kept set (RUN/kept/) where it was made with these filters, train notes and test notes:
        # the filters are not run twice.
        result = read_kept(
            str(path), table, real_texts, real_codes, filter_config, seed=config.seed, test_texts=test_texts
        )
        from_kept_set = result is not None
        if result is None:
            symptom_codes = _run_kg(path) if "kg_consistency" in filter_config.filters else None
            result = apply_filters(
                table,
                real_texts,
                filter_config,
                real_codes=real_codes,
                seed=config.seed,
                test_texts=test_texts,
                symptom_codes=symptom_codes,
            )
        kept[label] = result.kept
        filters[label] = {
            "path": str(path),
            "n": table.num_rows,
            "kept": result.kept.num_rows,
            "funnel": result.funnel,
            "from_kept_set": from_kept_set,
        }
        generated = table.filter(pa.array([r != "failed" for r in result.reasons]))
        summary, per_note = privacy_check(generated, train, privacy_config, seed=config.seed)
        kept_ids = set(result.kept["note_id"].to_pylist())
        if per_note.num_rows:
            is_kept = [i in kept_ids for i in per_note["note_id"].to_pylist()]
            sims = np.asarray(per_note["ngram_similarity"])
            summary["kept_share_above_ngram"] = (
                float((sims[is_kept] >= config.privacy.ngram_threshold).mean()) if any(is_kept) else 0.0
            )
            per_note = per_note.append_column("kept", pa.array(is_kept))
        privacy[label] = summary
        rows = table.select(["note_id", "code", "example_id"]).append_column(
            "filter_reason", pa.array(result.reasons, pa.string())
        )
        _write_parquet(rows, out / "synthetic" / f"{label}.filtered.parquet")
        if per_note.num_rows:
            _write_parquet(per_note, out / "synthetic" / f"{label}.privacy.parquet")

    seeds = list(range(config.seed, config.seed + config.seeds))
    upsample = config.upsample
    plans = {seed: training_sets(train, kept, upsample, seed=seed) for seed in seeds}
    oot_codes = plans[seeds[0]].oot_codes
    real_counts = _count(real_codes)
    rare_codes = sorted(c for c, n in real_counts.items() if n < plans[seeds[0]].rare_below)
    # A configuration whose training set has fewer than 2 codes (say `synthetic` after the filters
    # removed every note) cannot train a classifier: it is reported as skipped, with the reason.
    skipped: dict[str, Any] = {}
    for s in plans[seeds[0]].sets:
        if len(set(s.codes)) < 2:
            skipped[s.name] = {
                "reason": f"its training set has {len(s)} notes of {len(set(s.codes))} codes (a classifier "
                "needs at least 2 codes)",
                "n_train": len(s),
                "n_train_by_source": s.by_source(),
            }
    if "real" in skipped:
        raise DataError(f"--train cannot train a classifier: {skipped['real']['reason']}")
    jobs = [(s, seed) for seed in seeds for s in plans[seed].sets if s.name not in skipped]
    test_texts, test_codes = test["text"].to_pylist(), test["code"].to_pylist()
    # The quality gates' classifier is the `real` configuration's at the first seed: it ranks for it.
    reusable = config.classifier == "tfidf"
    known = [
        reference.classifier_for(s.texts, s.codes, config.tfidf, seed) if reusable else None
        for s, seed in jobs
    ]
    to_fit = [job for job, clf in zip(jobs, known, strict=True) if clf is None]
    fitted = iter(run_fits(to_fit, test_texts, test_codes, config))
    ranks = [
        next(fitted) if clf is None else rank_of_truth(clf.scores(test_texts), clf.classes, test_codes)
        for clf in known
    ]
    _write_parquet(
        pa.table(
            {
                "config": [s.name for s, seed in jobs for _ in s.note_ids],
                "seed": [seed for s, seed in jobs for _ in s.note_ids],
                "note_id": [i for s, _ in jobs for i in s.note_ids],
                "code": [c for s, _ in jobs for c in s.codes],
                "source": [src for s, _ in jobs for src in s.sources],
            }
        ),
        out / "training_sets.parquet",
    )
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {
            "train": str(config.train),
            "n_train_real": train.num_rows,
            "test": str(config.test),
            "n_test": test.num_rows,
            "synthetic": {label: str(p) for label, p in zip(labels, config.synthetic, strict=True)},
            "test_codes_unseen_in_train": sorted(set(test_codes) - set(real_codes)),
        },
        "classifier": config.classifier,
        "seeds": seeds,
        "bootstrap": config.bootstrap,
        "oot_codes": oot_codes,
        "rare_below": plans[seeds[0]].rare_below,
        "rare_codes": rare_codes,
        "configs": _aggregate(jobs, ranks, test_codes, oot_codes, rare_codes, config),
        "skipped_configs": skipped,
        "quality": gates,
        "filters": filters,
        "privacy": privacy,
        "settings": config.settings(),
    }
    report["seconds"] = round(time.time() - started, 1)
    from medsyn.evaluate.report import write_report

    write_report(report, out)
    return report


def _aggregate(
    jobs: list[tuple[TrainingSet, int]],
    ranks: list[np.ndarray],
    test_codes: list[str],
    oot_codes: list[str],
    rare_codes: list[str],
    config: EvaluateConfig,
) -> dict[str, Any]:
    idx = bootstrap_indices(len(test_codes), config.bootstrap, config.seed)
    oot_mask = np.isin(np.asarray(test_codes), oot_codes)
    rare_mask = np.isin(np.asarray(test_codes), rare_codes)
    rare_idx = bootstrap_indices(int(rare_mask.sum()), config.bootstrap, config.seed)
    by_name: dict[str, list[tuple[TrainingSet, np.ndarray]]] = {}
    for (s, _), r in zip(jobs, ranks, strict=True):
        by_name.setdefault(s.name, []).append((s, r))
    # Per test note, Hit@k averaged over seeds: the unit the bootstrap resamples.
    per_note = {
        n: {k: np.mean([hits(r, k) for _, r in runs], axis=0) for k in KS} for n, runs in by_name.items()
    }
    out: dict[str, Any] = {}
    for name, runs in by_name.items():
        seed_metrics = [hit_metrics(r, test_codes) for _, r in runs]
        first = runs[0][0]
        entry: dict[str, Any] = {f"hit@{k}": float(per_note[name][k].mean()) for k in KS}
        entry["accuracy"] = entry["hit@1"]
        entry["macro"] = {
            f"hit@{k}": float(np.mean([m["macro"][f"hit@{k}"] for m in seed_metrics])) for k in KS
        }
        entry["ci"] = {f"hit@{k}": bootstrap_ci(per_note[name][k], idx) for k in KS}
        entry["std_over_seeds"] = {
            f"hit@{k}": float(np.std([m[f"hit@{k}"] for m in seed_metrics])) for k in KS
        }
        entry["delta_vs_real"] = {
            f"hit@{k}": paired_delta(per_note[name][k], per_note["real"][k], idx) for k in KS
        }
        control = volume_control(name)
        if control in per_note:
            entry["delta_vs_control"] = {"control": control} | {
                f"hit@{k}": paired_delta(per_note[name][k], per_note[control][k], idx) for k in KS
            }
        if rare_mask.any():  # the test notes of rare codes (fewer than rare_below real training notes)
            rare = {k: per_note[name][k][rare_mask] for k in KS}
            entry["rare"] = {f"hit@{k}": float(rare[k].mean()) for k in KS} | {"n_test": int(rare_mask.sum())}
            entry["rare"]["delta_vs_real"] = {
                f"hit@{k}": paired_delta(rare[k], per_note["real"][k][rare_mask], rare_idx) for k in KS
            }
            if control in per_note:
                entry["rare"]["delta_vs_control"] = {
                    f"hit@{k}": paired_delta(rare[k], per_note[control][k][rare_mask], rare_idx) for k in KS
                }
        entry["oot"] = {
            f"hit@{k}": float(per_note[name][k][oot_mask].mean()) if oot_mask.any() else None for k in KS
        } | {"n_test": int(oot_mask.sum())}
        entry["per_code"] = {
            code: {"n_test": v["n_test"]}
            | {
                f"hit@{k}": float(np.mean([m["per_code"][code][f"hit@{k}"] for m in seed_metrics]))
                for k in KS
            }
            for code, v in seed_metrics[0]["per_code"].items()
        }
        entry["n_train"] = len(first)
        entry["n_train_by_source"] = first.by_source()
        entry["n_train_by_code"] = dict(sorted(_count(first.codes).items()))
        if first.unmatched:
            entry["unmatched_replicas"] = first.unmatched
        out[name] = entry
    return out


def volume_control(name: str) -> str | None:
    """The volume control of a real+SET configuration: `real+replicated(SET)` with the same rule."""
    head, sep, rule = name.partition(":")
    if not head.startswith("real+") or head.startswith("real+replicated("):
        return None
    return f"real+replicated({head[len('real+') :]})" + (sep + rule)


def _count(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return counts
