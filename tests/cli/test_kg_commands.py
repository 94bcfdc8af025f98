"""`medsyn kg ...` end to end through the real entry point (in-process and as a subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medsyn.cli.main import main


def test_build_stats_show_on_fixture(
    fixture_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kg"
    assert main(["kg", "build", "--data-dir", str(fixture_data), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["kg", "stats", "--kg", str(out), "--codes", "E11,J06,E12", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["codes"]["E11"] == {
        "known": True,
        "title_ru": "Инсулиннезависимый сахарный диабет",
        "title_en": "Non-insulin-dependent diabetes mellitus",
        "n_symptoms": 3,  # жажда + polyuria, thirst from E11.6
        "n_symptoms_ru": 1,
        "n_symptoms_en": 2,
        "n_drugs": 4,  # metformin, insulin, combo, bar
    }
    assert stats["codes"]["E12"]["title_ru"] is None
    assert stats["nodes"]["Disease"]["by_level"] == {
        "block": 2,
        "category": 3,
        "chapter": 2,
        "subcategory": 2,
    }
    assert stats["edges"]["HAS_SYMPTOM"]["by_source"] == {
        "disease_ontology": 3,
        "hsdn": 2,
        "rumedtop3_train": 3,
    }
    assert stats["label_set"]["with_symptoms"] == 2
    assert main(["kg", "show", "j06", "--kg", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["disease"]["code"] == "J06"
    assert shown["children"] == ["J06.9"]
    assert [s["name"] for s in shown["symptoms"]] == [
        "throat pain",
        "cough",
        "cough",
        "насморк",
        "боль в горле",
    ]
    assert {d["name"] for d in shown["drugs"]} == {"paracetamol", "ibuprofen"}


def test_stats_table_output_and_label_file(
    fixture_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("I10\nM54\n", encoding="utf-8")
    assert main(["kg", "stats", "--kg", "demo", "--codes", str(codes)]) == 0
    text = capsys.readouterr().out
    assert "Дорсалгия" in text and "label set custom: 2 codes, known 2" in text


def test_errors_are_clear(fixture_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kg", "show", "M55"]) == 2
    assert "unknown ICD-10 code 'M55'; close codes: M54, M54.2, M54.5" in capsys.readouterr().err
    out = tmp_path / "kg"
    out.mkdir()
    assert main(["kg", "build", "--data-dir", str(fixture_data), "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["kg", "build", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "k2")]) == 2
    assert "data directory" in capsys.readouterr().err
    assert main(["kg", "stats", "--codes", "M54,banana"]) == 2
    assert "'banana' is not an ICD-10 code" in capsys.readouterr().err
    assert main(["kg", "show", "M54", "--language", "de"]) == 2
    assert "argument --language: invalid choice: 'de' (choose from 'ru', 'en')" in capsys.readouterr().err
    assert main(["kg", "stats", "--kg", str(tmp_path / "missing")]) == 2
    assert "does not exist (build one with `medsyn kg build`)" in capsys.readouterr().err


def test_broken_source_file_names_file_and_line(
    fixture_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(fixture_data, data)
    markup = data / "rumedbench/raw/rec_markup.csv"
    markup.write_text(markup.read_text(encoding="utf-8") + 'a1,"unterminated\n', encoding="utf-8")
    assert main(["kg", "build", "--data-dir", str(data), "--out", str(tmp_path / "kg")]) == 2
    assert "rec_markup.csv:9" in capsys.readouterr().err
    assert not (tmp_path / "kg").exists()


def test_yaml_config_with_flag_override(fixture_data: Path, tmp_path: Path) -> None:
    config = tmp_path / "kg.yaml"
    config.write_text(
        f"data_dir: {fixture_data}\nout: {tmp_path / 'from-yaml'}\nsources: [icd10_ru, icd10_who]\n",
        encoding="utf-8",
    )
    assert main(["kg", "build", "--config", str(config), "--out", str(tmp_path / "from-flag")]) == 0
    assert (tmp_path / "from-flag" / "manifest.json").is_file()
    assert not (tmp_path / "from-yaml").exists()
    manifest = json.loads((tmp_path / "from-flag" / "manifest.json").read_text())
    assert manifest["counts"]["has_symptom"] == 0  # only the two ICD-10 importers ran
    config.write_text("colour: blue\n", encoding="utf-8")
    assert main(["kg", "build", "--config", str(config), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize(
    "args", [[], ["kg"], ["kg", "build"], ["kg", "stats"], ["kg", "show"], ["kg", "find"]]
)
def test_help_on_every_command(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "medsyn.cli.main", *args, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: medsyn" in result.stdout
