"""The whole experiment on a small sample of RuMedTop3: synthetic notes from the real generation job,
classifiers trained as Ray tasks, and proof (a planted marker) that test notes never reach training,
filters or the privacy check."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medsyn.evaluate import EvaluateConfig, FilterConfig, UpsampleConfig, run_evaluate
from medsyn.evaluate.report import PLOTS
from medsyn.evaluate.upsample import default_configs
from medsyn.notes import load_notes
from medsyn.pipeline.generate import GenerateConfig, run_generate
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.integration
CODES_PER_SAMPLE, NOTES_PER_CODE = 6, 20


def _write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample(real_data_dir: Path, real_kg_dir: Path, ray_local, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """RuMedTop3 train/dev cut to 6 codes, and 36 synthetic notes from the generation job (an echoing
    OpenAI-compatible server stands in for the model: it repeats the prompt, example note included)."""
    root = tmp_path_factory.mktemp("eval")
    bench = real_data_dir / "rumedbench" / "RuMedTop3"
    train = load_notes(bench / "train_v1.jsonl").to_pylist()
    dev = load_notes(bench / "dev_v1.jsonl").to_pylist()
    codes = sorted(c for c, _ in Counter(r["code"] for r in train).most_common(CODES_PER_SAMPLE))
    train_rows = [r for c in codes for r in [x for x in train if x["code"] == c][:NOTES_PER_CODE]]
    dev_rows = [r for r in dev if r["code"] in codes]
    train_file = _write_jsonl(
        [{"idx": r["note_id"], "code": r["code"], "symptoms": r["text"]} for r in train_rows],
        root / "train.jsonl",
    )
    with FakeOpenAI() as server:
        config = GenerateConfig(
            kg=str(real_kg_dir),
            notes=train_file,
            codes=codes,
            n=36,
            out=root / "synthetic",
            engine="openai",
            model="fake-model",
            base_url=server.base_url,
            seed=5,
        )
        summary = run_generate(config, progress=False)
    assert summary["notes"] == 36 and summary["failed"] == 0
    # The marker: a *test* note whose text is exactly a synthetic note's. Were test notes ever used as
    # real notes, it would be that synthetic note's nearest real note, and a training note.
    twin = pq.read_table(root / "synthetic" / "shards").to_pylist()[0]
    dev_rows.append({"note_id": "MARKER", "code": twin["code"], "text": twin["text"]})
    test_file = _write_jsonl(
        [{"idx": r["note_id"], "code": r["code"], "symptoms": r["text"]} for r in dev_rows],
        root / "dev.jsonl",
    )
    return {"root": root, "train": train_file, "test": test_file, "codes": codes, "twin": twin["note_id"]}


def test_whole_experiment_on_a_rumedtop3_sample(sample) -> None:  # type: ignore[no-untyped-def]
    out = sample["root"] / "report"
    config = EvaluateConfig(
        train=sample["train"],
        test=sample["test"],
        synthetic=[str(sample["root"] / "synthetic")],
        out=out,
        seeds=2,
        bootstrap=200,
        # every code is rare: the rare-code figures cover all test notes
        upsample=UpsampleConfig(oot_codes=[sample["codes"][0]], rare_below=NOTES_PER_CODE + 1),
    )
    report = run_evaluate(config)
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    assert (out / "report.md").read_text().count("| real") >= 5
    assert all((out / p).stat().st_size > 1000 for p in PLOTS)

    configs = report["configs"]
    assert list(configs) == default_configs(["synthetic"])
    n_real = CODES_PER_SAMPLE * NOTES_PER_CODE
    f = report["filters"]["synthetic"]
    assert configs["real"]["n_train"] == n_real
    assert configs["synthetic"]["n_train"] == f["kept"]
    assert configs["real+synthetic"]["n_train"] == n_real + f["kept"]
    assert configs["real-oot"]["n_train"] == n_real - NOTES_PER_CODE
    for name, c in configs.items():
        assert 0.0 <= c["hit@1"] <= c["hit@3"] <= c["hit@5"] <= 1.0, name
        assert c["ci"]["hit@1"][0] <= c["hit@1"] <= c["ci"]["hit@1"][1], name
        assert set(c["per_code"]) == set(sample["codes"])
        assert sum(v["n_test"] for v in c["per_code"].values()) == report["inputs"]["n_test"]
    assert configs["real"]["delta_vs_real"]["hit@3"] == {"delta": 0.0, "ci": [0.0, 0.0]}
    # Real notes of 6 codes: a TF-IDF classifier is far better than chance (1/6) on real dev notes.
    assert configs["real"]["hit@1"] > 0.4
    # Rare codes and volume controls: each real+SET configuration is compared with real+replicated(SET)
    # over all test notes and over the test notes of rare codes.
    assert report["rare_codes"] == sorted(
        c for c, n in configs["real"]["n_train_by_code"].items() if n < report["rare_below"]
    )
    mixed = configs["real+synthetic:rare"]
    assert mixed["delta_vs_control"]["control"] == "real+replicated(synthetic):rare"
    assert report["rare_codes"] == sample["codes"]
    assert mixed["rare"]["n_test"] == report["inputs"]["n_test"]
    assert mixed["rare"]["hit@3"] == pytest.approx(mixed["hit@3"])
    assert mixed["rare"]["delta_vs_control"]["hit@3"]["delta"] == pytest.approx(
        mixed["hit@3"] - configs["real+replicated(synthetic):rare"]["hit@3"]
    )
    # Without real notes of the out-of-training code, the classifier never predicts it.
    assert configs["real-oot"]["oot"]["hit@5"] == 0.0 and configs["real-oot"]["oot"]["n_test"] > 0

    # The quality gates of the set as generated (before the filters), against the real training notes.
    gates = report["quality"]["synthetic"]
    shards = pq.read_table(sample["root"] / "synthetic" / "shards").to_pylist()
    assert gates["n"] == 36 and gates["classifier_agreement"]["judged"] == 36
    recalls = [r["symptom_recall"] for r in shards]
    assert gates["symptom_recall"]["value"] == pytest.approx(sum(recalls) / len(recalls))
    assert gates["copy_rate"]["example"] == pytest.approx(sum(r["copied_example"] for r in shards) / 36)
    assert "## Quality gates" in (out / "report.md").read_text()

    # The funnel adds up; every synthetic note has its row and reason in the filtered table.
    assert f["n"] == 36 and sum(s["removed"] for s in f["funnel"]) == 36 - f["kept"]
    filtered = pq.read_table(out / "synthetic" / "synthetic.filtered.parquet")
    assert filtered.num_rows == 36
    assert sum(r is None for r in filtered["filter_reason"].to_pylist()) == f["kept"]

    # An echoing "generator" copies its example notes into its output: the membership test sees it.
    membership = report["privacy"]["synthetic"]["membership"]
    assert membership["members"] > 0 and membership["auc_ngram"] > 0.8

    # The planted marker (a test note identical to a synthetic note) never reached training, filters
    # or the privacy check.
    trained = pq.read_table(out / "training_sets.parquet")
    assert "MARKER" not in set(trained["note_id"].to_pylist())
    privacy = pq.read_table(out / "synthetic" / "synthetic.privacy.parquet").to_pylist()
    twin = next(r for r in privacy if r["note_id"] == sample["twin"])
    assert twin["nearest_real_ngram"] != "MARKER" and twin["ngram_similarity"] < 1.0
    assert "MARKER" not in {r["nearest_real_embedding"] for r in privacy}

    # Filters that remove every synthetic note: `synthetic` alone cannot train and is reported as
    # skipped, with its reason; the other configurations still run.
    empty = run_evaluate(
        EvaluateConfig(
            train=sample["train"],
            test=sample["test"],
            synthetic=[str(sample["root"] / "synthetic")],
            out=sample["root"] / "report-empty",
            upsample=UpsampleConfig(configs=["real", "synthetic", "real+synthetic"]),
            filter=FilterConfig(min_symptom_recall=1.01),
            seeds=1,
            bootstrap=50,
            use_ray=False,
        )
    )
    assert empty["filters"]["synthetic"]["kept"] == 0
    assert list(empty["configs"]) == ["real", "real+synthetic"]
    assert empty["configs"]["real+synthetic"]["n_train"] == n_real
    assert empty["skipped_configs"]["synthetic"]["n_train"] == 0
    assert (
        "skipped: its training set has 0 notes" in (sample["root"] / "report-empty" / "report.md").read_text()
    )


def test_ray_fits_rank_like_plain_fits(sample) -> None:  # type: ignore[no-untyped-def]
    """The classifiers trained as Ray tasks (texts in the object store once, each task its positions)
    rank every test note exactly as the same fits in this process."""
    import numpy as np

    from medsyn.evaluate.experiment import run_fits
    from medsyn.evaluate.upsample import TrainingSet

    train, test = load_notes(sample["train"]), load_notes(sample["test"])
    texts, codes = train["text"].to_pylist(), train["code"].to_pylist()
    half = len(texts) // 2

    def training_set(name: str, t: list[str], c: list[str]) -> TrainingSet:
        return TrainingSet(name, [str(i) for i in range(len(t))], t, c, ["real"] * len(t))

    jobs = [
        (training_set("all", texts, codes), 0),
        (training_set("half", texts[:half], codes[:half]), 1),
        (training_set("twice", texts + texts[:half], codes + codes[:half]), 2),
    ]
    test_texts, test_codes = test["text"].to_pylist(), test["code"].to_pylist()
    base = dict(train=sample["train"], test=sample["test"], synthetic=["x"], out=str(sample["root"] / "x"))
    plain = run_fits(jobs, test_texts, test_codes, EvaluateConfig(**base, use_ray=False))
    on_ray = run_fits(jobs, test_texts, test_codes, EvaluateConfig(**base, use_ray=True))
    assert len(on_ray) == 3 and all(np.array_equal(a, b) for a, b in zip(plain, on_ray, strict=True))
    assert not np.array_equal(plain[0], plain[1])  # the sets differ, and so do their rankings
