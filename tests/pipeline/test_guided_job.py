"""Guided decoding in the generation job: the negative prompts of each row, the options' checks, and a
guided run on a real local Ray (hf engine, a tiny model) that records its settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsyn.errors import MedsynError
from medsyn.pipeline import stages
from medsyn.pipeline.generate import (
    GenerateConfig,
    confuser_titles,
    generation_settings,
    prepare,
    run_generate,
)
from medsyn.prompts import get_template
from tests.pipeline.test_generate_job import NOTES, _config, _read

pytestmark = pytest.mark.integration


@pytest.fixture
def notes_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(n, ensure_ascii=False) for n in NOTES) + "\n", encoding="utf-8")
    return path


def test_each_row_gets_its_negative_prompt(notes_file: Path, tmp_path: Path) -> None:
    kw = dict(model="m", templates=["instruction_note_example"], form="completion", guidance_scale=2.0)
    config = _config(tmp_path / "x", notes_file, **kw)
    planner = prepare(config)
    rows = {"row": np.arange(12)}
    plain = stages.plan_and_prompt(rows, planner)
    assert "negative" not in plain
    blank = stages.plan_and_prompt(rows, planner, negative="no_disease")
    template = get_template("instruction_note_example", "ru", "completion")
    assert blank["prompt"] == plain["prompt"] and set(blank["negative"]) == {template.blank}
    titles = confuser_titles(_config(tmp_path / "x", notes_file, **kw, negative_prompt="confuser"), planner)
    assert titles is not None and set(titles) == {"J06", "M54", "I10"}
    assert titles["J06"] != planner.codes[0].title  # a code's confuser is another code
    confused = stages.plan_and_prompt(rows, planner, negative="confuser", confuser_titles=titles)
    for i, code in enumerate(confused["code"]):
        assert (
            f"«{titles[code]}»" in confused["negative"][i]
            and confused["title"][i] not in confused["negative"][i]
        )
        assert ", ".join(confused["symptoms"][i]) in confused["negative"][i]  # only the title differs
    requests = stages.to_requests(confused, config.sampling(), "completion")
    assert [r.negative for r in requests] == confused["negative"]
    assert generation_settings(config)["guidance_scale"] == 2.0
    assert "guidance_scale" not in generation_settings(_config(tmp_path / "x", notes_file, model="m"))


def test_bad_guidance_options_are_refused_by_name(notes_file: Path, tmp_path: Path) -> None:
    with pytest.raises(MedsynError, match="vLLM has no guided decoding") as err:
        _config(tmp_path, notes_file, model="m", engine="vllm", guidance_scale=2)
    assert err.value.option == "guidance_scale"
    with pytest.raises(MedsynError, match="--negative-prompt confuser .* give --notes"):
        GenerateConfig(codes=["J06"], n=1, out=str(tmp_path), engine="hf", model="m", guidance_scale=2,
                       negative_prompt="confuser")  # fmt: skip
    with pytest.raises(MedsynError, match="paper_main.ru.chat.v1, baseline_symptoms.ru.chat.v1 has none"):
        _config(tmp_path, notes_file, model="m", guidance_scale=2, negative_prompt="confuser")
    with pytest.raises(MedsynError, match=r"guidance_scale must be in \[1, 10\]"):
        _config(tmp_path, notes_file, model="m", guidance_scale=0.5)


def test_a_guided_run_completes_and_keeps_its_settings(
    ray_local, tiny_model: Path, notes_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "guided"
    kw = dict(model=str(tiny_model), n=6, temperature=1.0, guidance_scale=2.0, quality=False)
    summary = run_generate(_config(out, notes_file, **kw), progress=False)
    assert summary["notes"] == 6 and summary["failed"] == 0
    assert all(r["text"] is not None and r["error"] is None for r in _read(out))
    generation = json.loads((out / "run.json").read_text())["generation"]
    assert (generation["guidance_scale"], generation["negative_prompt"]) == (2.0, "no_disease")
    with pytest.raises(MedsynError, match=r"other settings \(guidance_scale: 2\.0 -> 3\.0\)"):
        run_generate(_config(out, notes_file, **{**kw, "guidance_scale": 3.0}), progress=False)
