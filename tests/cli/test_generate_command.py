"""`medsyn generate`: bad input fails before any Ray work, with a message naming the bad value."""

from pathlib import Path

import pytest

from medsyn.cli.main import main


def test_help_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--engine {vllm,hf,openai,dry-run}" in out and "--symptom-source {kg,example}" in out
    assert "--allocation {paper,rare,uniform,proportional,explicit}" in out


def test_a_yaml_value_outside_the_choices_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("codes: [J06]\nn: 4\nengine: tgi\n")
    assert main(["generate", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert (
        "option 'engine': 'tgi' is not valid; use one of vllm, hf, openai, dry-run" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codes", "J06", "--n", "0"], "the number of notes must be a positive integer, got 0"),
        (["--codes", "J06", "--n", "-3"], "positive integer, got -3"),
        (
            ["--codes", "J06,M55,X99", "--n", "4"],
            "2 code(s) not in the KG demo: unknown ICD-10 code 'M55'; close codes: M54",
        ),
        (["--codes", "J06", "--n", "4", "--model", "/no/such/model"], "model '/no/such/model' not found"),
        (
            ["--codes", "J06", "--n", "4", "--engine", "tgi"],
            "argument --engine: invalid choice: 'tgi' (choose from 'vllm', 'hf', 'openai', 'dry-run')",
        ),
        (
            ["--codes", "J06", "--n", "4", "--allocation", "zipf"],
            "invalid choice: 'zipf' (choose from 'paper', 'rare', 'uniform', 'proportional', 'explicit')",
        ),
        (["--codes", "J06", "--n", "4", "--temperature", "-1"], "temperature must be >= 0, got -1.0"),
        (["--codes", "J06", "--n", "4", "--language", "de"], "invalid choice: 'de' (choose from 'ru', 'en')"),
        (["--codes", "J06", "--n", "4", "--engine", "hf", "--threads", "0"], "threads must be >= 1, got 0"),
        (
            [
                "--codes",
                "J06",
                "--n",
                "4",
                "--engine",
                "openai",
                "--model",
                "m",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            "cannot reach the OpenAI-compatible endpoint http://127.0.0.1:9/v1",
        ),
    ],
)
def test_bad_input(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_out_and_foreign_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--codes", "J06", "--n", "4"]) == 2
    assert "--out is required" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    assert main(["generate", "--codes", "J06", "--n", "4", "--engine", "hf", "--out", str(foreign)]) == 2
    assert "is not a medsyn run directory" in capsys.readouterr().err
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_bad_notes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("text,code\nкашель,J06\nнасморк,банан\n", encoding="utf-8")
    assert main(["generate", "--notes", str(notes), "--n", "4", "--out", str(tmp_path / "o")]) == 2
    assert "row 2: code 'банан' is not an ICD-10 code" in capsys.readouterr().err
    notes.write_text("body,code\nкашель,J06\n", encoding="utf-8")
    assert main(["generate", "--notes", str(notes), "--n", "4", "--out", str(tmp_path / "o")]) == 2
    assert "no text column" in capsys.readouterr().err
