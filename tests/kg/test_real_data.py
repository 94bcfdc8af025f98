"""The MKG built from the real public data in ../shared/data (built once per session)."""

import csv
import json
from pathlib import Path

import pytest

from medsyn.cli.main import main
from medsyn.kg import EmbeddedStore

pytestmark = pytest.mark.integration


def _stats(kg_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["kg", "stats", "--kg", str(kg_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_all_rumedtop3_codes_covered(
    real_kg_dir: Path, real_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = _stats(real_kg_dir, capsys)
    train = [json.loads(line) for line in (real_data_dir / "rumedbench/RuMedTop3/train_v1.jsonl").open()]
    codes = {note["code"] for note in train}
    assert len(codes) == 105
    assert stats["label_set"]["name"] == "rumedtop3_train"
    assert set(stats["codes"]) == codes
    for code, c in stats["codes"].items():
        assert c["title_ru"] and c["title_en"], code
        assert c["n_symptoms"] >= 1, code
    with_drugs = sum(c["n_drugs"] > 0 for c in stats["codes"].values())
    assert with_drugs >= 85, with_drugs  # "most": measured 92/105
    assert stats["label_set"] == {
        "name": "rumedtop3_train",
        "n_codes": 105,
        "known": 105,
        "with_title_ru": 105,
        "with_title_en": 105,
        "with_symptoms": 105,
        "with_drugs": with_drugs,
    }


def test_every_source_recorded(real_kg_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = _stats(real_kg_dir, capsys)
    assert set(stats["nodes"]["Disease"]["by_source"]) == {"icd10_ru_nsi1005", "icd10_who_2019"}
    assert set(stats["edges"]["HAS_SYMPTOM"]["by_source"]) == {"rumedtop3_train", "disease_ontology", "hsdn"}
    assert set(stats["edges"]["TREATED_WITH"]["by_source"]) == {"medi_hps", "sider4"}
    assert stats["nodes"]["Disease"]["by_level"]["category"] > 2000
    assert stats["nodes"]["Symptom"]["by_language"]["ru"] > 100


def test_russian_symptoms_come_from_train_only(real_kg_dir: Path, real_data_dir: Path) -> None:
    """Weights equal train-visit counts; a symptom seen only on dev visits of a code is absent."""
    rumed = real_data_dir / "rumedbench"
    split = {}
    for name in ("train", "dev"):
        for line in (rumed / f"RuMedTop3/{name}_v1.jsonl").open(encoding="utf-8"):
            note = json.loads(line)
            split[note["idx"]] = (name, note["code"])
    train_counts: dict[tuple[str, str], int] = {}
    dev_pairs = set()
    for row in csv.DictReader((rumed / "raw/rec_markup.csv").open(encoding="utf-8")):
        if row["code"] and row["new_event_id"] in split:
            name, code = split[row["new_event_id"]]
            key = (code, row["code"].strip().lower())
            if name == "train":
                train_counts[key] = train_counts.get(key, 0) + 1
            else:
                dev_pairs.add(key)
    kg = EmbeddedStore(real_kg_dir)
    edges = kg.tables().has_symptom.filter(
        kg.tables().has_symptom["source"].to_numpy(zero_copy_only=False) == "rumedtop3_train"
    )
    got = {
        (c, s): w
        for c, s, w in zip(*(edges[k].to_pylist() for k in ("code", "symptom", "weight")), strict=True)
    }
    assert got == {k: float(v) for k, v in train_counts.items()}
    dev_only = dev_pairs - set(train_counts)
    assert dev_only, "the real data should have dev-only (code, symptom) pairs to check against"
    assert not dev_only & set(got)
