"""`medsyn evaluate`: bad input is refused by name; a small run without Ray writes its report."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsyn.cli.main import main
from medsyn.errors import MedsynError

TRAIN = [
    ("r1", "J06", "Боль в горле, насморк, температура 38."),
    ("r2", "J06", "Насморк и кашель, першит в горле."),
    ("r3", "J06", "Горло болит при глотании, заложен нос."),
    ("r4", "M54", "Боль в пояснице после подъема тяжести."),
    ("r5", "M54", "Поясница болит, отдает в ногу."),
    ("r6", "M54", "Ноет спина в поясничном отделе."),
    ("r7", "I10", "Давление 160 на 100, болит затылок."),
    ("r8", "I10", "Повышается давление, шум в ушах."),
    ("r9", "I10", "Головная боль в затылке при высоком давлении."),
]
TEST = [
    ("d1", "J06", "Болит горло и насморк второй день."),
    ("d2", "M54", "Боль в пояснице, отдает в ногу."),
    ("d3", "I10", "Высокое давление, головная боль."),
    ("d4", "I10", "Шум в ушах и давление 170."),
]
SYNTHETIC = [
    ("s1", "J06", "Пациент жалуется на насморк и боль в горле при глотании.", 1.0),
    ("s2", "M54", "Жалобы на тянущую боль в пояснице после нагрузки.", 1.0),
    ("s3", "I10", "Жалобы на подъемы давления и головную боль.", 0.2),  # recall 0.2: filtered out
]


def _notes(rows: list[tuple[str, str, str]], path: Path) -> Path:
    path.write_text(
        "".join(
            json.dumps({"idx": i, "code": c, "symptoms": t}, ensure_ascii=False) + "\n" for i, c, t in rows
        )
    )
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "syn" / "shards").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "note_id": [r[0] for r in SYNTHETIC],
                "code": [r[1] for r in SYNTHETIC],
                "text": [r[2] for r in SYNTHETIC],
                "symptom_recall": [r[3] for r in SYNTHETIC],
                "error": [None] * len(SYNTHETIC),
            }
        ),
        tmp_path / "syn" / "shards" / "part-00000.parquet",
    )
    return {
        "train": str(_notes(TRAIN, tmp_path / "train.jsonl")),
        "test": str(_notes(TEST, tmp_path / "test.jsonl")),
        "synthetic": str(tmp_path / "syn"),
        "out": str(tmp_path / "report"),
    }


def _args(inputs: dict[str, str], **extra: str) -> list[str]:
    args = ["evaluate", "--no-use-ray", "--seeds", "1", "--bootstrap", "50", "--oot-codes", "J06"]
    for k, v in {**inputs, **extra}.items():
        args += [f"--{k.replace('_', '-')}", v]
    return args


def test_small_run_writes_the_report(inputs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(inputs)) == 0
    report = json.loads((Path(inputs["out"]) / "report.json").read_text())
    assert report["configs"]["real"]["n_train"] == 9
    assert report["filters"]["synthetic"]["kept"] == 2  # s3 fails symptom recall
    assert report["configs"]["real+synthetic"]["n_train"] == 11
    assert report["configs"]["real-oot+synthetic"]["n_train_by_source"] == {"real": 6, "synthetic": 1}
    err = capsys.readouterr().err
    assert "real+replicated(synthetic)" in err and "report.md" in err
    # A second run into the same directory is refused without --overwrite.
    assert main(_args(inputs)) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert main([*_args(inputs), "--overwrite"]) == 0
    # Each code keeps its best note even below the recall bound: I10's s3 comes back, and the report says so.
    assert main([*_args(inputs), "--overwrite", "--recall-keep-per-code", "1"]) == 0
    report = json.loads((Path(inputs["out"]) / "report.json").read_text())
    assert report["filters"]["synthetic"]["kept"] == 3
    assert (
        "| symptom_recall | 0.65 (1 kept below it) | 0 | 3 |"
        in (Path(inputs["out"]) / "report.md").read_text()
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": "/no/such/train.jsonl"}, "notes file '/no/such/train.jsonl' does not exist"),
        ({"synthetic": "/no/such/run"}, "synthetic set '/no/such/run' does not exist"),
        ({"filters": "symptom_recall,bertscore"}, "option 'filters': ['bertscore'] is not valid; use any of"),
        ({"seeds": "0"}, "--seeds must be >= 1, got 0"),
        (
            {"configs": "real+synthetic:sometimes"},
            "unknown training configuration 'real+synthetic:sometimes'",
        ),
        ({"classifier": "bert"}, "invalid choice: 'bert' (choose from 'tfidf', 'transformer')"),
    ],
)
def test_bad_input_names_the_value(
    inputs: dict[str, str], change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(inputs, **change)) == 2
    assert message in capsys.readouterr().err


def test_test_notes_that_are_also_training_notes_are_refused(
    inputs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(inputs, test=inputs["train"])) == 2
    assert "9 note ids are in both --train and --test" in capsys.readouterr().err


def test_help_lists_the_choices_of_list_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--classifier {tfidf,transformer}" in out
    assert "(comma-separated, any of: failed, symptom_recall, example_similarity, copy_example," in out
    assert main(["finetune", "--help"]) == 0
    assert "any of: note_from_title_symptoms, note_from_example" in " ".join(capsys.readouterr().out.split())


def test_sections_take_flat_and_dotted_flags_and_flat_or_nested_yaml(tmp_path: Path) -> None:
    from medsyn.cli.main import build_parser
    from medsyn.config import from_args
    from medsyn.evaluate import EvaluateConfig

    flat = tmp_path / "flat.yaml"
    flat.write_text(
        "train: a\ntest: b\nout: c\nrare_below: 23\noot_codes: [E03, G50]\nfilters: [copy_real]\n"
    )
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "train: a\ntest: b\nout: c\nupsample: {rare_below: 23, oot_codes: [E03, G50]}\n"
        "filter: {filters: [copy_real]}\n"
    )
    configs = [
        from_args(EvaluateConfig, build_parser().parse_args(["evaluate", "--config", str(f)]))
        for f in (flat, nested)
    ]
    assert configs[0] == configs[1]
    config = configs[0]
    assert (config.upsample.rare_below, config.upsample.oot_codes) == (23, ["E03", "G50"])
    assert config.filter.filters == ["copy_real"] and config.tfidf.c == 0.5
    # Flags override the file, by their flat or their dotted name.
    args = [
        "evaluate",
        "--config",
        str(nested),
        "--rare-below",
        "9",
        "--tfidf.c",
        "2",
        "--min-symptom-recall",
        "0.5",
    ]
    config = from_args(EvaluateConfig, build_parser().parse_args(args))
    assert (config.upsample.rare_below, config.tfidf.c, config.filter.min_symptom_recall) == (9, 2.0, 0.5)
    assert config.upsample.oot_codes == ["E03", "G50"]
    # The report records every option by its flat name, as before the sections.
    settings = config.settings()
    assert settings["rare_below"] == 9 and settings["c"] == 2.0 and settings["out"] == "c"
    assert "upsample" not in settings
    # A bad value inside a section is refused by name.
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: a\ntest: b\nout: c\nupsample: {rare_blow: 3}\n")
    with pytest.raises(MedsynError, match="unknown config option 'rare_blow'"):
        from_args(EvaluateConfig, build_parser().parse_args(["evaluate", "--config", str(bad)]))


def test_a_bad_configuration_is_refused_before_out_is_touched(
    inputs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    for name in ("real-oot+synthetic:target", "real:rare", "real+gpt4"):
        assert main(_args(inputs | {"out": str(out)}, configs=name)) == 2
        assert name in capsys.readouterr().err
        assert not out.exists()
