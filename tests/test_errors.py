"""Errors say what kind they are: ConfigError (naming the option), DataError, ServiceError; every config
checks its own choices when it is built."""

from pathlib import Path

import pytest

from medsyn.errors import ConfigError, DataError, MedsynError, ServiceError, UnknownCodeError
from medsyn.evaluate.experiment import EvaluateConfig
from medsyn.finetune.dataset import DatasetConfig
from medsyn.kg import open_kg
from medsyn.kg.build import KGBuildConfig
from medsyn.kg.neo4j_store import Neo4jSettings, connect
from medsyn.notes import load_notes
from medsyn.pipeline.generate import GenerateConfig
from medsyn.quality.filters import FilterConfig
from medsyn.sampling.plan import PlanConfig
from medsyn.serving.config import ServeConfig


@pytest.mark.parametrize(
    ("build", "option", "message"),
    [
        (lambda: PlanConfig(language="de"), "language", "'de' is not valid; use one of ru, en"),  # type: ignore[arg-type]
        (lambda: PlanConfig(allocation="zipf"), "allocation", "use one of paper, rare, uniform"),  # type: ignore[arg-type]
        (lambda: PlanConfig(templates=["sonnet"]), "template", "unknown template 'sonnet'; valid: "),
        (lambda: PlanConfig(min_symptoms=4, max_symptoms=2), "max_symptoms", "min_symptoms <= max_symptoms"),
        (lambda: GenerateConfig(engine="tgi"), "engine", "use one of vllm, hf, openai, dry-run"),  # type: ignore[arg-type]
        (lambda: GenerateConfig(engine="dry-run", threads=0), "threads", "threads must be >= 1, got 0"),
        (lambda: GenerateConfig(engine="dry-run", temperature=-1), "temperature", "temperature must be >= 0"),
        (lambda: FilterConfig(filters=["copy_real", "bleu"]), "filters", "['bleu'] is not valid; use any of"),  # type: ignore[list-item]
        (lambda: DatasetConfig(tasks=["poetry"]), "tasks", "['poetry'] is not valid; use any of note_from"),  # type: ignore[list-item]
        (lambda: KGBuildConfig(sources=["umls"]), "sources", "use any of icd10_ru, icd10_who"),  # type: ignore[list-item]
        (lambda: ServeConfig(auth="maybe"), "auth", "'maybe' is not valid; use one of on, off, auto"),  # type: ignore[arg-type]
        (
            lambda: EvaluateConfig(train="a", test="b", out="c", classifier="bert"),  # type: ignore[arg-type]
            "classifier",
            "use one of tfidf, transformer",
        ),
        (lambda: EvaluateConfig(train="a", test="b"), "out", "--out is required"),
    ],
)
def test_a_config_refuses_a_bad_option_when_built(build, option: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=None) as info:
        build()
    assert info.value.option == option and message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MedsynError)


def test_an_unknown_code_is_a_config_error_on_codes() -> None:
    with pytest.raises(UnknownCodeError) as info:
        open_kg("demo").disease("M55")
    assert isinstance(info.value, ConfigError) and info.value.option == "codes" and "M54" in str(info.value)


def test_bad_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_notes(str(tmp_path / "none.jsonl"))
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"idx": "a", "code": "J06"}\n')
    with pytest.raises(DataError, match="no text column"):
        load_notes(str(bad))
    with pytest.raises(DataError, match="does not exist"):
        open_kg(str(tmp_path / "no-kg"))


def test_an_unreachable_service_is_a_service_error() -> None:
    # Nothing listens on port 9 of 127.0.0.1: the driver's connectivity check fails at once.
    with pytest.raises(ServiceError, match="cannot reach Neo4j at bolt://127.0.0.1:9"):
        connect(Neo4jSettings.from_env("bolt://127.0.0.1:9", user="neo4j", database=None))
