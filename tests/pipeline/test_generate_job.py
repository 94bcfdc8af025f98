"""The generation job end to end on a real local Ray, writing real Parquet shards."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from medsyn.errors import MedsynError
from medsyn.pipeline.generate import GenerateConfig, cpu_threads, prepare, run_generate
from medsyn.quality.filters import FilterConfig
from tests.fake_openai import FakeOpenAI
from tests.kill import kill_job_when
from tests.processes import environments_of

pytestmark = pytest.mark.integration

NOTES = [
    {"idx": "t1", "code": "J06", "symptoms": "Насморк, боль в горле, температура 37.5 второй день."},
    {"idx": "t2", "code": "J06", "symptoms": "Кашель и чихание, слабость."},
    {"idx": "t3", "code": "M54", "symptoms": "Боль в пояснице после подъёма тяжести."},
]


@pytest.fixture
def notes_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(n, ensure_ascii=False) for n in NOTES) + "\n", encoding="utf-8")
    return path


def _config(out: Path, notes: Path, **kw) -> GenerateConfig:  # type: ignore[no-untyped-def]
    base = dict(
        codes=["J06", "M54", "I10"],
        n=12,
        notes=notes,
        out=out,
        engine="hf",
        temperature=0.0,
        max_tokens=8,
        batch_size=4,
        shard_rows=4,
        seed=3,
    )
    return GenerateConfig(**{**base, **kw})


def _read(out: Path) -> list[dict]:
    return pq.read_table(out / "shards").sort_by("row").to_pylist()


def test_job_writes_every_planned_row_once_with_provenance(
    ray_local, default_model: Path, notes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notes"
    filters = FilterConfig(filters=["copy_example"])  # the tiny model's notes name no symptoms
    config = _config(out, notes_file, model=str(default_model), filter=filters)
    summary = run_generate(config, progress=False)
    assert (summary["notes"], summary["planned"], summary["missing"], summary["duplicates"]) == (12, 12, 0, 0)
    assert summary["failed"] == 0 and summary["this_run"]["notes"] == 12
    rows = _read(out)
    assert [r["row"] for r in rows] == list(range(12))
    assert len({r["note_id"] for r in rows}) == 12
    plan = prepare(config).plan(np.arange(12))
    for r in rows:
        i = r["row"]
        assert r["code"] == plan["code"][i] and r["symptoms"] == plan["symptoms"][i]
        assert r["template_id"] == plan["template_id"][i] and r["example_id"] == plan["example_id"][i]
        assert r["seed"] == plan["seed"][i] and r["note_id"] == plan["note_id"][i]
        assert r["text"] and r["error"] is None
        assert r["model"] == str(default_model) and r["engine"] == "hf" and r["temperature"] == 0.0
        assert r["prompt"] and r["system"] and r["title"] and r["language"] == "ru"
        assert 0 < r["completion_tokens"] <= 8 and r["prompt_tokens"] > 0 and r["latency_s"] > 0
        assert 0.0 <= r["symptom_recall"] <= 1.0
        if r["code"] in ("J06", "M54"):
            assert r["example_id"] in {"t1", "t2", "t3"} and r["length_ratio"] is not None
            assert r["copied_example"] is not None
        else:
            assert r["example_id"] is None and r["template_id"].startswith("baseline_symptoms")
    assert json.loads((out / "summary.json").read_text())["notes"] == 12
    _check_kept_set_card_and_export(out, summary, filters, default_model, notes_file, tmp_path, capsys)

    # Rerun on a complete run: nothing to do, nothing duplicated.
    again = run_generate(config, progress=False)
    assert again["this_run"]["notes"] == 0 and again["duplicates"] == 0 and len(_read(out)) == 12
    # Another plan in the same directory is refused; --overwrite starts afresh.
    with pytest.raises(MedsynError, match="holds another plan"):
        run_generate(_config(out, notes_file, model=str(default_model), n=13), progress=False)
    with pytest.raises(MedsynError, match=r"other settings \(temperature: 0\.0 -> 0\.7\)"):
        run_generate(_config(out, notes_file, model=str(default_model), temperature=0.7), progress=False)
    fresh = run_generate(
        _config(out, notes_file, model=str(default_model), n=5, overwrite=True), progress=False
    )
    assert fresh["notes"] == 5 and len(_read(out)) == 5


def test_failed_generations_are_rows_with_their_error(ray_local, notes_file: Path, tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.fail_next = [400, 400, 400]
        config = _config(
            tmp_path / "notes",
            notes_file,
            engine="openai",
            model="fake-model",
            base_url=server.base_url,
            n=10,
        )
        summary = run_generate(config, progress=False)
    assert summary["notes"] == 10 and summary["failed"] == 3
    assert summary["failures_by_reason"] == {"BadRequestError": 3}
    rows = _read(tmp_path / "notes")
    failed = [r for r in rows if r["error"]]
    assert len(failed) == 3 and all(r["text"] is None and r["symptom_recall"] is None for r in failed)
    assert all(r["text"].startswith("echo[") for r in rows if not r["error"])


def test_penalties_reach_the_engine_and_bind_a_resumed_run(
    ray_local, notes_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "notes"
    with FakeOpenAI() as server:
        kw = dict(engine="openai", model="fake-model", base_url=server.base_url, n=6)
        summary = run_generate(_config(out, notes_file, frequency_penalty=0.3, **kw), progress=False)
        assert summary["notes"] == 6 and len(server.bodies) == 6
        assert all(b["frequency_penalty"] == 0.3 and "repetition_penalty" not in b for b in server.bodies)
        assert json.loads((out / "run.json").read_text())["generation"]["frequency_penalty"] == 0.3
        with pytest.raises(MedsynError, match="frequency_penalty"):  # a resume must sample as the run did
            run_generate(_config(out, notes_file, frequency_penalty=0.6, **kw), progress=False)


def test_openings_end_the_prompts_and_start_the_notes(ray_local, notes_file: Path, tmp_path: Path) -> None:
    """--opening-words 2: the engine sees each prompt end with the first two words of another real note of
    its code, and the note (engine text) starts with them; the rows record which note gave them."""
    out = tmp_path / "notes"
    with FakeOpenAI() as server:
        kw = dict(engine="openai", model="fake-model", base_url=server.base_url, n=9, max_tokens=64)
        summary = run_generate(
            _config(out, notes_file, form="completion", opening_words=2, **kw), progress=False
        )
        sent = [b["prompt"] for b in server.bodies]
    assert summary["notes"] == 9 and summary["failed"] == 0
    first_words = {n["idx"]: " ".join(n["symptoms"].split()[:2]) for n in NOTES}
    rows = _read(out)
    with_notes = [r for r in rows if r["code"] in ("J06", "M54")]
    assert with_notes and all(r["opening"] == first_words[r["opening_id"]] for r in with_notes)
    assert all(r["opening_id"] != r["example_id"] for r in with_notes if r["code"] == "J06")
    for r in with_notes:
        assert r["prompt"] in sent and r["prompt"].endswith("стиле): " + r["opening"])
        assert r["text"].startswith(r["opening"] + " echo[")  # the fake server echoes what it was sent
    assert all(r["opening"] is None for r in rows if r["code"] == "I10")  # no real note of I10
    assert json.loads((out / "run.json").read_text())["config"]["opening_words"] == 2


def test_resume_after_the_job_is_killed(ray_local, notes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes"
    with FakeOpenAI(delay=0.25) as server:
        args = [
            "--codes", "J06,M54,I10", "--n", "40", "--notes", str(notes_file), "--out", str(out),
            "--engine", "openai", "--model", "fake-model", "--base-url", server.base_url,
            "--request-concurrency", "1", "--batch-size", "4", "--shard-rows", "4", "--seed", "3",
            "--temperature", "0", "--max-tokens", "8",
        ]  # fmt: skip
        kill_job_when("generate.py", args, lambda: len(list((out / "shards").glob("part-*.parquet"))) >= 2)
        time.sleep(2)  # requests the killed job had already sent are still answered: let them land
        before = len(pq.read_table(out / "shards").column("row"))
        assert 0 < before < 40, before
        assert not (out / "summary.json").exists()
        requests_before = server.requests

        config = _config(out, notes_file, engine="openai", model="fake-model", base_url=server.base_url, n=40)
        summary = run_generate(config, progress=False)
        # Only the missing rows were generated again.
        assert server.requests - requests_before == 40 - before
    assert summary["this_run"]["notes"] == 40 - before
    rows = _read(out)
    assert [r["row"] for r in rows] == list(range(40))
    assert summary["duplicates"] == 0 and summary["missing"] == 0


def test_vllm_engine_through_ray_data_llm(
    ray_local, default_model: Path, notes_file: Path, tmp_path: Path
) -> None:
    config = _config(
        tmp_path / "notes", notes_file, engine="vllm", model=str(default_model), n=6, max_tokens=12
    )
    with environments_of("VLLM::EngineCore", parent="MapWorker(MapBatches(vLLMEngineStageUDF))") as engines:
        summary = run_generate(config, progress=False)
    assert (summary["notes"], summary["failed"], summary["missing"]) == (6, 0, 0)
    # The stage's vLLM engine process computes on every core of the node (one replica), not on the one
    # thread a Ray worker's torch gets (OMP_NUM_THREADS unset there: measured, 1 busy thread).
    assert engines, "no vLLM engine process seen under the job's ray.data.llm stage"
    assert {env.get("OMP_NUM_THREADS") for env in engines.values()} == {str(os.cpu_count())}
    rows = _read(tmp_path / "notes")
    assert [r["row"] for r in rows] == list(range(6))
    assert all(r["text"] and r["engine"] == "vllm" and 0 < r["completion_tokens"] <= 12 for r in rows)


def test_cpu_replicas_share_the_smallest_nodes_cores(ray_local, notes_file: Path, tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    assert cpu_threads(_config(tmp_path / "a", notes_file)) == cores
    assert cpu_threads(_config(tmp_path / "b", notes_file, replicas=2)) == max(1, cores // 2)
    assert cpu_threads(_config(tmp_path / "c", notes_file, replicas=4 * cores)) == 1
    assert cpu_threads(_config(tmp_path / "d", notes_file, replicas=2, threads=3)) == 3


def test_dry_run_engine_measures_the_job_and_is_refused_as_training_data(
    ray_local, notes_file: Path, tmp_path: Path
) -> None:
    """engine dry-run: every planned row, no model, a text built from the row's symptoms, marked as such;
    evaluate and finetune-data refuse the set unless told to accept it."""
    from medsyn.evaluate.synthetic import read_synthetic
    from medsyn.finetune.dataset import DatasetConfig, build_samples

    out = tmp_path / "dry"
    config = _config(out, notes_file, engine="dry-run", n=30)
    assert config.model == "dry-run"
    summary = run_generate(config, progress=False)
    rows = _read(out)
    assert summary["notes"] == 30 and summary["failed"] == 0 and [r["row"] for r in rows] == list(range(30))
    for r in rows:
        assert r["engine"] == "dry-run" and r["text"] == f"Жалобы на {', '.join(r['symptoms'])}."
        assert r["symptom_recall"] == 1.0 and r["completion_tokens"] == len(r["text"].split())
    again = _config(tmp_path / "dry2", notes_file, engine="dry-run", n=30)
    run_generate(again, progress=False)
    assert [r["text"] for r in _read(tmp_path / "dry2")] == [r["text"] for r in rows]  # deterministic
    with pytest.raises(MedsynError, match=r"30 notes written by engine 'dry-run'.*--allow-dry-run"):
        read_synthetic(out)
    assert read_synthetic(out, allow_dry_run=True).num_rows == 30
    dataset = DatasetConfig(notes=notes_file, kg="demo", out=tmp_path / "sft", synthetic=[str(out)])
    with pytest.raises(MedsynError, match="dry-run"):
        build_samples(dataset, use_ray=False)
    with pytest.raises(
        MedsynError, match="option 'engine': 'dryrun' is not valid; use one of vllm, hf, openai, dry-run"
    ):
        _config(out, notes_file, engine="dryrun")


def _check_kept_set_card_and_export(
    out: Path,
    summary: dict,
    filters: FilterConfig,
    default_model: Path,
    notes_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A complete run has kept/ (the notes that pass evaluate's filters, by the same code), the dataset
    card written before summary.json, and exports the kept set in the real notes' own columns."""
    from medsyn.cli.main import main
    from medsyn.evaluate.synthetic import read_synthetic
    from medsyn.notes import load_notes
    from medsyn.pipeline.kept import export_kept, read_kept
    from medsyn.quality.filters import apply_filters

    manifest = json.loads((out / "kept" / "manifest.json").read_text())
    kept = pq.read_table(out / "kept" / "notes.parquet")
    reasons = pq.read_table(out / "kept" / "reasons.parquet").to_pylist()
    assert manifest["rows"] == 12 and len(reasons) == 12 and summary["kept"]["notes"] == manifest["notes"]
    assert kept.num_rows == manifest["notes"] == sum(r["filter_reason"] is None for r in reasons) > 0
    assert set(kept.column_names) == set(pq.read_table(out / "shards").column_names) | {"off_code_symptoms"}
    assert sum(row["attempts"] for row in manifest["per_code"].values()) == 12
    # The same filters, called as `medsyn evaluate` calls them, keep the same notes.
    synthetic = read_synthetic(out)
    real = load_notes(notes_file)
    texts, codes = real["text"].to_pylist(), real["code"].to_pylist()
    direct = apply_filters(synthetic, texts, filters, real_codes=codes, seed=0)
    assert set(direct.kept["note_id"].to_pylist()) == set(kept["note_id"].to_pylist())
    reused = read_kept(str(out), synthetic, texts, codes, filters, seed=0)
    assert reused is not None and reused.reasons == direct.reasons
    # Other filters, another seed or other real notes: the evaluation filters anew.
    assert read_kept(str(out), synthetic, texts, codes, FilterConfig(), seed=0) is None
    assert read_kept(str(out), synthetic, texts, codes, filters, seed=1) is None
    assert read_kept(str(out), synthetic, texts[:-1], codes[:-1], filters, seed=0) is None

    # The card: how the notes were made, what they hold, the licences; written before summary.json.
    card = json.loads((out / "card.json").read_text())
    assert card["how_made"]["model"]["name"] == str(default_model)
    assert card["how_made"]["model"]["weights_sha256"] and card["how_made"]["seed"] == 3
    assert card["holds"]["kept"] == manifest["notes"] and card["holds"]["per_code"] == manifest["per_code"]
    assert (out / "card.json").stat().st_mtime_ns <= (out / "summary.json").stat().st_mtime_ns
    text = (out / "DATASET_CARD.md").read_text()
    assert "## Licences that pass on" in text and "| J06 |" in text and "no test set was checked" in text
    assert main(["quality", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "dataset card" in shown and "kept set per code" in shown

    # The export: the real notes' own column names (idx, code, symptoms), one row per kept note.
    jsonl = tmp_path / "synthetic.jsonl"
    assert export_kept(str(out), "jsonl", str(jsonl)) == kept.num_rows
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == kept.num_rows and all(set(r) == {"idx", "code", "symptoms"} for r in rows)
    assert load_notes(jsonl).num_rows == kept.num_rows  # it reads as real notes do
    for fmt in ("csv", "parquet"):
        assert export_kept(str(out), fmt, str(tmp_path / f"synthetic.{fmt}")) == kept.num_rows
    assert load_notes(tmp_path / "synthetic.csv")["text"].to_pylist() == [r["symptoms"] for r in rows]
    with pytest.raises(MedsynError, match="--out .* exists: pass --overwrite"):
        export_kept(str(out), "jsonl", str(jsonl))
    with pytest.raises(MedsynError, match="--format 'xml' is not valid; use one of jsonl, csv, parquet"):
        export_kept(str(out), "xml", str(tmp_path / "x.xml"))

    # Decontamination: a test set holding a copy of a kept note; the kept set drops it and counts it.
    from medsyn.pipeline.kept import write_kept
    from medsyn.pipeline.rundir import RunDir

    planted = kept["text"].to_pylist()[0]
    test_file = tmp_path / "dev.jsonl"
    test_file.write_text(
        json.dumps({"idx": "d1", "code": "J06", "symptoms": "Жалобы: " + planted}, ensure_ascii=False) + "\n"
    )
    again = write_kept(RunDir(out), notes=str(notes_file), filters=filters, test=[str(test_file)])
    step = next(s for s in again["funnel"] if s["filter"] == "test_overlap")
    assert step["enabled"] and step["removed"] >= 1 and again["notes"] == manifest["notes"] - step["removed"]
    assert again["test_sets"][0]["path"] == str(test_file)
    assert main(["quality", str(out), "--test", str(test_file), "--json"]) == 0
    (overlap,) = json.loads(capsys.readouterr().out)["test_overlap"]
    assert overlap["path"] == str(test_file) and overlap["copies"] >= 1 and overlap["notes"] == 12
    # A test set that holds the train notes' texts: the run showed them as examples, evaluate refuses it.
    shown = tmp_path / "shown.jsonl"
    shown.write_text(
        "".join(json.dumps({**n, "idx": f"d{i}"}, ensure_ascii=False) + "\n" for i, n in enumerate(NOTES))
    )
    code = main(
        ["evaluate", "--train", str(notes_file), "--test", str(shown), "--synthetic", str(out)]
        + ["--out", str(tmp_path / "eval"), "--seeds", "1", "--bootstrap", "10"]
    )
    assert code == 2 and "showed notes of the test set" in capsys.readouterr().err
