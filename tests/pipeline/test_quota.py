"""Quota runs on a real local Ray (the openai engine against a real local HTTP server): rounds until each
code has N kept notes, resumed after a kill mid-round, codes short of budget named, bad input refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medsyn.errors import ConfigError
from medsyn.pipeline.generate import GenerateConfig, run_generate
from medsyn.pipeline.quota import next_counts
from medsyn.quality.filters import FilterConfig
from tests.fake_openai import FakeOpenAI
from tests.kill import kill_job_when

NOTES = [
    {"idx": "t1", "code": "J06", "symptoms": "Насморк, боль в горле, температура 37.5 второй день."},
    {"idx": "t2", "code": "M54", "symptoms": "Боль в пояснице после подъёма тяжести."},
]
RECALL_ONLY = FilterConfig(filters=["symptom_recall"])


@pytest.fixture
def notes_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(n, ensure_ascii=False) for n in NOTES) + "\n", encoding="utf-8")
    return path


def _config(out: Path, notes: Path, base_url: str, **kw) -> GenerateConfig:  # type: ignore[no-untyped-def]
    # The fake server echoes the prompt: with room for all of it the note names all its symptoms and
    # passes the recall filter; with 8 tokens it names none and fails it.
    base = dict(
        codes=["J06", "M54", "I10"],
        quota=4,
        notes=notes,
        out=out,
        engine="openai",
        model="fake-model",
        base_url=base_url,
        request_concurrency=1,
        batch_size=4,
        shard_rows=4,
        temperature=0.0,
        max_tokens=512,
        seed=3,
        filter=RECALL_ONLY,
    )
    return GenerateConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_the_next_round_asks_what_each_code_lacks_over_its_pass_rate() -> None:
    from collections import Counter

    quota = {"A": 10, "B": 10, "C": 10}
    first = next_counts(quota, Counter(), Counter(), max_attempts=100, budget_left=None)
    assert first == {"A": 13, "B": 13, "C": 13}  # 1.25 x the quota
    # A is full; B kept 5 of 13 (rate (5+1)/(13+2) = 0.4: 5 more need 13); C kept none: capped by its budget.
    later = next_counts(
        quota, Counter(A=10, B=5), Counter(A=13, B=13, C=13), max_attempts=20, budget_left=None
    )
    assert later == {"B": 7, "C": 7}
    assert next_counts(quota, Counter(B=5), Counter(A=13, B=13, C=13), max_attempts=40, budget_left=10) == {
        "A": 10
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"quota": 0}, "--quota must be >= 1"),
        ({"max_attempts_per_code": 3}, "--max-attempts-per-code 3 is smaller than --quota 4"),
        ({"max_notes": 2}, "--max-notes 2 is smaller than --quota 4"),
        ({"max_rounds": 0}, "--max-rounds must be >= 1"),
    ],
)
def test_bad_quota_settings_are_refused(kw: dict, message: str, notes_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        run_generate(_config(tmp_path / "q", notes_file, "http://127.0.0.1:9/v1", **kw), progress=False)
    assert not (tmp_path / "q").exists()


@pytest.mark.integration
def test_a_quota_run_killed_mid_round_resumes_and_keeps_n_per_code(
    ray_local, notes_file: Path, tmp_path: Path
) -> None:
    from medsyn.evaluate.synthetic import read_synthetic

    out = tmp_path / "quota"
    with FakeOpenAI(delay=0.2) as server:
        args = [
            "--codes", "J06,M54,I10", "--quota", "4", "--notes", str(notes_file), "--out", str(out),
            "--engine", "openai", "--model", "fake-model", "--base-url", server.base_url,
            "--request-concurrency", "1", "--batch-size", "4", "--shard-rows", "4", "--seed", "3",
            "--temperature", "0", "--max-tokens", "512", "--filters", "symptom_recall",
        ]  # fmt: skip
        first_round = out / "rounds" / "000" / "shards"
        kill_job_when("generate.py", args, lambda: len(list(first_round.glob("part-*.parquet"))) >= 1)
        time.sleep(2)
        assert not (out / "summary.json").exists()
        before = pq.read_table(first_round).num_rows
        requests_before = server.requests
        summary = run_generate(_config(out, notes_file, server.base_url), progress=False)
        planned = json.loads((out / "quota.json").read_text())["rounds"][0]["counts"]
        assert planned == {"I10": 5, "J06": 5, "M54": 5}  # round 0: 1.25 x the quota
        # The killed round was finished, not started again: its first rows were not asked for twice.
        assert server.requests - requests_before == 15 - before
        # Another quota on the same directory is refused, naming the setting.
        with pytest.raises(ConfigError, match=r"holds a quota run with other settings \(quota\)"):
            run_generate(_config(out, notes_file, server.base_url, quota=5), progress=False)
    assert summary["rounds"] == 1 and summary["quota"]["short"] == {}
    kept = pq.read_table(out / "kept" / "notes.parquet")
    assert kept.num_rows == 12 and len(set(kept["note_id"].to_pylist())) == 12
    assert {c: kept["code"].to_pylist().count(c) for c in ("J06", "M54", "I10")} == {
        "J06": 4,
        "M54": 4,
        "I10": 4,
    }
    reasons = pq.read_table(out / "kept" / "reasons.parquet")["filter_reason"].to_pylist()
    assert reasons.count(None) == 12 and reasons.count("over_quota") == 3
    per_code = summary["quota"]["per_code"]
    assert all(
        row["attempts"] == 5 and row["kept"] == 4 and row["pass_rate"] == 1.0 for row in per_code.values()
    )
    all_rows = read_synthetic(out)
    assert all_rows.num_rows == 15 and len(set(all_rows["note_id"].to_pylist())) == 15
    assert (out / "card.json").is_file() and json.loads((out / "card.json").read_text())["holds"][
        "kept"
    ] == 12


@pytest.mark.integration
def test_codes_that_cannot_fill_their_quota_are_named_with_their_numbers(
    ray_local, notes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medsyn.cli.main import main

    out = tmp_path / "short"
    with FakeOpenAI(delay=0.0) as server:
        # 8 tokens: the echo stops before the symptoms, so no note passes the recall filter.
        code = main(
            ["generate", "--codes", "J06,M54", "--quota", "2", "--max-attempts-per-code", "4"]
            + ["--notes", str(notes_file), "--out", str(out), "--engine", "openai", "--model", "fake-model"]
            + ["--base-url", server.base_url, "--max-tokens", "8", "--filters", "symptom_recall"]
        )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    short = summary["quota"]["short"]
    assert set(short) == {"J06", "M54"} and all(
        s == {"kept": 0, "quota": 2, "attempts": 4} for s in short.values()
    )
    assert summary["rounds"] == 2  # 3 asked first (1.25 x 2), then the 1 the budget left
    err = capsys.readouterr().err
    assert "short of quota: J06 kept 0 of 2 after 4 attempts" in err.replace("\n", " ")
