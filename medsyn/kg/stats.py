"""KG statistics: node and edge counts by type and source, and coverage of a label set.

medsyn kg stats --kg runs/kg --json
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from medsyn.errors import ConfigError, DataError
from medsyn.icd import normalize_code
from medsyn.kg.importers.rumedtop3 import TRAIN_FILE
from medsyn.kg.store import KGStore
from medsyn.paths import default_data_dir


def _count(values: list[Any]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _flat(column: pa.ChunkedArray) -> list[str]:
    return [v for row in column.to_pylist() for v in row]


def read_label_set(spec: str) -> list[str]:
    """Codes from a comma-separated list, a text file (one or more per line) or a JSONL file of notes."""
    path = Path(spec)
    if path.is_file():
        if path.suffix == ".jsonl":
            codes = []
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        codes.append(str(json.loads(line)["code"]))
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise DataError(f"{path}:{line_no}: expected a JSON object with a 'code'") from None
        else:
            codes = path.read_text(encoding="utf-8").replace(",", "\n").split()
    elif "/" in spec or spec.endswith((".txt", ".jsonl", ".csv")):
        raise DataError(f"codes file {spec!r} does not exist")
    else:
        codes = [c for c in spec.split(",") if c.strip()]
    out = []
    for code in codes:
        norm = normalize_code(code)
        if norm is None:
            raise ConfigError(f"{code!r} is not an ICD-10 code (expected e.g. 'M54' or 'M54.5')")
        out.append(norm)
    return list(dict.fromkeys(out))


def default_label_set(store: KGStore) -> tuple[str, list[str]]:
    """RuMedTop3 train codes when the public data is here, else the KG's 3-character categories."""
    data_dir = default_data_dir()
    if data_dir is not None and (data_dir / TRAIN_FILE).is_file():
        return "rumedtop3_train", sorted(read_label_set(str(data_dir / TRAIN_FILE)))
    return "kg_categories", store.codes("category")


def code_coverage(store: KGStore, code: str) -> dict[str, Any]:
    """Titles and counts of distinct symptoms and drugs of `code`, subcodes included."""
    if not store.has(code):
        return {"known": False, "title_ru": None, "title_en": None, "n_symptoms": 0, "n_drugs": 0}
    disease = store.disease(code)
    symptoms = {(e.name, e.language) for e in store.symptoms(code, include_descendants=True)}
    drugs = {e.name for e in store.drugs(code, include_descendants=True)}
    return {
        "known": True,
        "title_ru": disease.title_ru,
        "title_en": disease.title_en,
        "n_symptoms": len(symptoms),
        "n_symptoms_ru": sum(lang == "ru" for _, lang in symptoms),
        "n_symptoms_en": sum(lang == "en" for _, lang in symptoms),
        "n_drugs": len(drugs),
    }


def kg_stats(store: KGStore, codes: list[str] | None = None, label_set: str = "custom") -> dict[str, Any]:
    """All statistics as one JSON-ready dict (`codes` keyed by code)."""
    t = store.tables()
    if codes is None:
        label_set, codes = default_label_set(store)
    per_code = {code: code_coverage(store, code) for code in codes}
    return {
        "kg": store.location(),
        "nodes": {
            "Disease": {
                "total": t.diseases.num_rows,
                "by_level": _count(t.diseases["level"].to_pylist()),
                "by_source": _count(_flat(t.diseases["sources"])),
            },
            "Symptom": {
                "total": t.symptoms.num_rows,
                "by_language": _count(t.symptoms["language"].to_pylist()),
                "by_source": _count(_flat(t.symptoms["sources"])),
            },
            "Drug": {"total": t.drugs.num_rows, "by_source": _count(_flat(t.drugs["sources"]))},
        },
        "edges": {
            "HAS_SYMPTOM": {
                "total": t.has_symptom.num_rows,
                "by_source": _count(t.has_symptom["source"].to_pylist()),
            },
            "TREATED_WITH": {
                "total": t.treated_with.num_rows,
                "by_source": _count(t.treated_with["source"].to_pylist()),
            },
        },
        "label_set": {
            "name": label_set,
            "n_codes": len(codes),
            "known": sum(c["known"] for c in per_code.values()),
            "with_title_ru": sum(bool(c["title_ru"]) for c in per_code.values()),
            "with_title_en": sum(bool(c["title_en"]) for c in per_code.values()),
            "with_symptoms": sum(c["n_symptoms"] > 0 for c in per_code.values()),
            "with_drugs": sum(c["n_drugs"] > 0 for c in per_code.values()),
        },
        "codes": per_code,
    }
