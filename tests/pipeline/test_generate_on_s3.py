"""Every location an s3:// URI on a real S3-compatible server (moto, 127.0.0.1): the KG, the notes, the
run directory (killed mid-way, then resumed) and the evaluation's inputs and report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from medsyn.evaluate import EvaluateConfig, UpsampleConfig, run_evaluate
from medsyn.kg import open_kg, write_kg
from medsyn.pipeline.generate import GenerateConfig, run_generate
from medsyn.pipeline.rundir import RunDir
from medsyn.storage import Location
from tests.fake_openai import FakeOpenAI
from tests.kill import kill_job_when

pytestmark = pytest.mark.integration

TEXTS = {
    "J06": ["Насморк, боль в горле, температура 37.5.", "Кашель, чихание, заложенность носа.",
            "Першение в горле и насморк третий день.", "Температура 38, насморк, слабость."],
    "M54": ["Боль в пояснице после подъёма тяжести.", "Боль в спине, отдаёт в ногу.",
            "Ноющая боль в пояснице по утрам.", "Скованность и боль в нижней части спины."],
    "I10": ["Головная боль, давление 160/100.", "Шум в ушах, давление повышается вечером.",
            "Головокружение и высокое давление.", "Давление 150/95, тяжесть в затылке."],
}  # fmt: skip


def _upload_jsonl(rows: list[dict], uri: str) -> str:
    Location.parse(uri).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return uri


@pytest.fixture
def bucket(s3_server, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    root = s3_server()
    assert write_kg(open_kg("demo").tables(), f"{root}/kg") == f"{root}/kg"  # the KG on S3 too
    rows = [(code, i, t) for code, texts in TEXTS.items() for i, t in enumerate(texts)]
    train = [{"idx": f"tr-{c}-{i}", "code": c, "symptoms": t} for c, i, t in rows if i < 3]
    test = [{"idx": f"te-{c}-{i}", "code": c, "symptoms": t} for c, i, t in rows if i == 3]
    return {
        "root": root,
        "kg": f"{root}/kg",
        "train": _upload_jsonl(train, f"{root}/notes/train.jsonl"),
        "test": _upload_jsonl(test, f"{root}/notes/test.jsonl"),
        "out": f"{root}/runs/notes",
    }


def test_generate_resume_and_evaluate_with_every_location_on_s3(ray_local, bucket: dict[str, str]) -> None:
    out = RunDir(bucket["out"])
    with FakeOpenAI(delay=0.25) as server:
        args = [
            "--kg", bucket["kg"], "--codes", "J06,M54,I10", "--n", "40", "--notes", bucket["train"],
            "--out", bucket["out"], "--engine", "openai", "--model", "fake-model",
            "--base-url", server.base_url, "--request-concurrency", "1", "--batch-size", "4",
            "--shard-rows", "4", "--seed", "3", "--temperature", "0", "--max-tokens", "8",
        ]  # fmt: skip
        kill_job_when("generate.py", args, lambda: len(out.shards.files(prefix="part-")) >= 2)
        time.sleep(2)  # requests the killed job had already sent are still answered: let them land
        before = len(out.done_rows())
        assert 0 < before < 40, before
        assert out.summary() is None and out.run_info()["total"] == 40
        requests_before = server.requests

        config = GenerateConfig(
            kg=bucket["kg"], codes=["J06", "M54", "I10"], n=40, notes=bucket["train"], out=bucket["out"],
            engine="openai", model="fake-model", base_url=server.base_url, batch_size=4, shard_rows=4,
            seed=3, temperature=0.0, max_tokens=8,
        )  # fmt: skip
        summary = run_generate(config, progress=False)
        assert server.requests - requests_before == 40 - before  # only the missing rows, again
    assert (summary["notes"], summary["missing"], summary["duplicates"]) == (40, 0, 0)
    assert summary["out"] == bucket["out"] and out.summary()["notes"] == 40
    notes = out.read(["row", "code", "text", "example_id"])
    assert sorted(notes["row"].to_pylist()) == list(range(40))
    train_ids = {f"tr-{c}-{i}" for c in TEXTS for i in range(3)}
    assert {e for e in notes["example_id"].to_pylist() if e} <= train_ids
    assert summary["quality"]["n"] == 40  # the gates read the run and the notes from S3 too
    assert not out.out.join("lease.json").exists()

    report = run_evaluate(
        EvaluateConfig(
            train=bucket["train"],
            test=bucket["test"],
            synthetic=[bucket["out"]],
            out=f"{bucket['root']}/eval",
            seeds=1,
            bootstrap=50,
            upsample=UpsampleConfig(
                oot_codes=["I10"], configs=["real", "real+synthetic", "real-oot", "real-oot+synthetic"]
            ),
        ),  # fmt: skip
        progress=False,
    )
    assert report["inputs"]["n_train_real"] == 9 and report["inputs"]["n_test"] == 3
    assert report["filters"]["synthetic"]["n"] == 40
    written = Location.parse(f"{bucket['root']}/eval")
    names = {f.name for f in written.files()}
    assert {"report.json", "report.md", "training_sets.parquet"} <= names
    assert written.join("report.json").read_json()["configs"].keys() == report["configs"].keys()
    assert written.join("synthetic", "synthetic.filtered.parquet").read_parquet().num_rows == 40
