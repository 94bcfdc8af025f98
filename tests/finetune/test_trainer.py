"""LoRA fine-tuning on Ray Train with 2 CPU workers (a tiny model built in code): the loss goes down,
a killed run resumes from its saved step, the adapter changes the output of the hf and vllm engines
(which agree) and of the generation job, and the merged export gives the adapted output too."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.errors import MedsynError
from medsyn.finetune import (
    FinetuneConfig,
    check_inputs,
    latest_checkpoint,
    merge_adapter,
    run_finetune,
)
from medsyn.models import model_fingerprint
from tests.kill import kill_job_when

pytestmark = pytest.mark.integration
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _config(dataset: Path, out: Path, model: Path, **kw: Any) -> FinetuneConfig:
    base: dict[str, Any] = dict(
        dataset=dataset,
        out=out,
        base_model=str(model),
        learning_rate=3e-2,
        target_modules=TARGETS,
        max_steps=10,
        batch_size=4,
        max_length=128,
        num_workers=2,
        checkpoint_every=2,
        lora_r=8,
        lora_alpha=16,
    )
    return FinetuneConfig(**(base | kw))


def _fixed_batch_loss(model_path: Path, adapter: Path | None, dataset: Path) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medsyn.finetune import collate, encode

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model: Any = AutoModelForCausalLM.from_pretrained(model_path)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    batch = encode(tokenizer, pq.read_table(dataset / "train").to_pylist()[:8], 128)
    with torch.no_grad():
        return float(model.eval()(**collate(batch, tokenizer.eos_token_id)).loss)


def _val_loss(model_path: Path, adapter: Path, dataset: Path, batch_size: int, max_length: int) -> float:
    """The mean answer loss over the val split in batches, as the training loop reports it (computed here
    in one process: the loop splits the batches over its workers)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medsyn.finetune import answer_loss, collate, encode
    from medsyn.finetune.batches import sorted_samples

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_path), str(adapter)).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    val = encode(tokenizer, sorted_samples(pq.read_table(dataset / "val").to_pylist()), max_length)
    with torch.no_grad():
        losses = [
            float(answer_loss(model, collate(val[i : i + batch_size], pad)))
            for i in range(0, len(val), batch_size)
        ]
    assert len(losses) >= 2, "the val split should fill a batch on each of the 2 workers"
    return sum(losses) / len(losses)


def _kill_after_first_checkpoint(dataset: Path, out: Path, model: Path) -> None:
    """Start `jobs/finetune.py` as a driver of the test's Ray cluster and SIGKILL it as soon as a
    checkpoint is in storage (Ray then ends the run's controller and workers with it)."""
    args = [
        "--dataset", str(dataset), "--out", str(out), "--base-model", str(model), "--learning-rate", "3e-2",
        "--target-modules", ",".join(TARGETS), "--max-steps", "10", "--batch-size", "4", "--max-length",
        "128", "--num-workers", "2", "--checkpoint-every", "2", "--lora-r", "8", "--lora-alpha", "16",
    ]  # fmt: skip
    kill_job_when("finetune.py", args, lambda: latest_checkpoint(out / "ray", "finetune") is not None)


def test_train_kill_resume_and_use_the_adapter(
    ray_local, dataset: Path, tiny_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ft"
    _kill_after_first_checkpoint(dataset, out, tiny_model)
    saved = latest_checkpoint(out / "ray", "finetune")
    assert saved is not None and not (out / "adapter").exists()
    killed_at = saved.join("state.json").read_json()["step"]
    assert killed_at in range(2, 10, 2), killed_at
    # The rerun continues from the killed run's last checkpoint, not from zero, and leaves no copy of
    # it behind in the temp directory.
    temp = Path(tempfile.gettempdir())
    before_rerun = set(temp.iterdir())
    second = run_finetune(_config(dataset, out, tiny_model))
    left = {p.name for p in set(temp.iterdir()) - before_rerun if p.is_dir() and "ray" not in p.name}
    assert not left, left
    assert second["resumed_from"] == killed_at and second["complete"] and second["step"] == 10
    assert [h["step"] for h in second["history"]] == list(range(killed_at + 2, 11, 2))
    first_output = capfd.readouterr()  # the workers' lines reach this driver's output in the background
    assert all(h["val_loss"] is not None for h in second["history"])
    adapter = Path(second["adapter"])
    # The 2 workers' val loss is the mean over every val batch, not over one worker's share.
    expected = _val_loss(tiny_model, adapter, dataset, batch_size=4, max_length=128)
    assert second["history"][-1]["val_loss"] == pytest.approx(expected, rel=1e-4)
    meta = json.loads((adapter / "medsyn_adapter.json").read_text())
    assert meta["base_model"] == str(tiny_model) and meta["config"]["lora_r"] == 8
    assert meta["base_model_fingerprint"] == model_fingerprint(tiny_model)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8

    # The loss on a fixed batch of training samples goes down.
    before = _fixed_batch_loss(tiny_model, None, dataset)
    after = _fixed_batch_loss(tiny_model, adapter, dataset)
    assert after < before - 0.2, (before, after)

    # The hf engine loads the adapter and its greedy output differs from the base model's.
    request = [
        Request("a", prompt="### Задание:\nНапиши жалобы.\n\n### Ответ:\n", params=SamplingParams(0, 1.0, 12))
    ]
    with make_engine("hf", str(tiny_model)) as base:
        base_text = base.generate(request)[0].text
    with make_engine("hf", str(tiny_model), adapter=adapter) as tuned:
        tuned_text = tuned.generate(request)[0].text
    assert tuned_text != base_text
    # The merged export is a plain model directory with the adapted output.
    with make_engine("hf", str(merge_adapter(adapter, tmp_path / "merged"))) as merged:
        assert merged.generate(request)[0].text == tuned_text
    # So does vLLM on the CPU, and it agrees with PEFT on the adapted greedy text.
    with make_engine("vllm", str(tiny_model), adapter=adapter) as vllm:
        assert vllm.generate(request)[0].text == tuned_text

    # The rank-0 worker's progress line of the last step reached the driver once (Ray Train's print patch
    # used to send it twice), by now.
    output = first_output.out + first_output.err + "".join(capfd.readouterr())
    assert output.count("step 10/10 ") == 1, output[-3000:]

    # The generation job with --adapter (hf engine on Ray Data): the adapter is in the provenance, and
    # the notes are the adapted model's.
    from medsyn.pipeline.generate import GenerateConfig, run_generate

    job = GenerateConfig(
        codes=["J06"],
        n=2,
        engine="hf",
        form="completion",
        model=str(tiny_model),
        adapter=str(adapter),
        out=tmp_path / "notes",
        max_tokens=6,
        temperature=0.0,
        batch_size=1,  # no padding: greedy texts comparable one to one
    )
    assert run_generate(job, progress=False)["notes"] == 2
    rows = pq.read_table(tmp_path / "notes" / "shards").to_pylist()
    assert all(r["model"] == f"{tiny_model}+{adapter}" and r["error"] is None for r in rows)
    with make_engine("hf", str(tiny_model), adapter=adapter) as tuned:
        for row in rows:
            request = [Request("a", prompt=row["prompt"], params=SamplingParams(0, 1.0, 6))]
            assert tuned.generate(request)[0].text == row["text"]


def test_bad_input(dataset: Path, tiny_model: Path, default_model: Path, tmp_path: Path) -> None:
    with pytest.raises(MedsynError, match=r"target modules \['c_attn'\] are not in .*q_proj"):
        check_inputs(_config(dataset, tmp_path / "x", tiny_model, target_modules=["c_attn"]))
    with pytest.raises(MedsynError, match="model '/no/such/model' not found"):
        check_inputs(_config(dataset, tmp_path / "x", Path("/no/such/model")))
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(MedsynError, match="has no training samples"):
        check_inputs(_config(tmp_path / "empty", tmp_path / "x", tiny_model))
    # An adapter trained on another model is refused by the engines, by name.
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    other = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=2, target_modules=["q_proj"])
    )
    other.save_pretrained(str(tmp_path / "other"))
    with pytest.raises(MedsynError, match="was trained on .* not on the engine's model"):
        make_engine("hf", str(default_model), adapter=tmp_path / "other")
    with pytest.raises(MedsynError, match="not a LoRA adapter directory"):
        make_engine("hf", str(tiny_model), adapter=tmp_path)


def test_val_max_samples_takes_the_same_seeded_subset(
    dataset: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from medsyn.finetune import LocalContext, loop_config, train_loop

    def val_losses(n: int, name: str) -> list[float]:
        config = _config(dataset, tmp_path / name, tiny_model, max_steps=2, checkpoint_every=1, num_workers=1)
        model, train, val = check_inputs(replace(config, val_max_samples=n))
        ctx = LocalContext(tmp_path / name)
        train_loop(
            {**loop_config(replace(config, val_max_samples=n), str(model)), "train": train, "val": val}, ctx
        )
        return [r["val_loss"] for r in ctx.reports]

    every = val_losses(0, "all")
    assert len(every) == 2 and val_losses(1000, "more") == every  # a cap above the split: all of it
    one = val_losses(1, "one")
    assert one == val_losses(1, "one-again") and one != every  # a seeded subset, the same at each run
    with pytest.raises(MedsynError, match=r"--val-max-samples must be >= 0 \(0: all\), got -1"):
        _config(dataset, tmp_path / "x", tiny_model, val_max_samples=-1)


def test_finetune_from_notes_trains(ray_local, tiny_model: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`medsyn finetune --notes FILE --kg KG --out RUN` (the guide's command) builds the dataset, then
    trains: it used to stop with "give one of --dataset or --notes" once the dataset was built."""
    import hashlib

    from medsyn.cli.main import main
    from tests.finetune.conftest import TRAIN, write_notes

    notes = write_notes(TRAIN, tmp_path / "train.jsonl")
    out = tmp_path / "run"
    args = [
        "finetune", "--notes", str(notes), "--kg", "demo", "--out", str(out), "--base-model", str(tiny_model),
        "--tasks", "note_from_title_symptoms,kg_symptoms", "--max-steps", "2", "--batch-size", "2",
        "--checkpoint-every", "2", "--lora-r", "4", "--lora-alpha", "8",
    ]  # fmt: skip
    assert main(args) == 0
    meta = json.loads((out / "adapter" / "medsyn_adapter.json").read_text())
    assert meta["complete"] and meta["step"] == 2
    assert meta["config"]["notes"] == str(notes) and meta["config"]["dataset"] is None
    assert meta["data"] == {
        "kg": "demo",
        "notes": "train.jsonl",
        "sha256": hashlib.sha256(notes.read_bytes()).hexdigest(),
    }
    assert set(meta["train_samples_by_task"]) <= {"note_from_title_symptoms", "kg_symptoms"}
    assert meta["train_samples_by_task"]["note_from_title_symptoms"] > 0
    assert (out / "dataset" / "train").is_dir()


def test_finetune_with_every_location_on_s3(ray_local, s3_server, tiny_model: Path) -> None:  # type: ignore[no-untyped-def]
    """Notes, dataset, checkpoints and adapter on a real S3-compatible server: a run stopped after its
    first checkpoint resumes from it (found on S3), and the adapter lands on S3 with its metadata."""
    from medsyn.storage import Location
    from tests.finetune.conftest import TRAIN

    root = s3_server()
    notes = Location.parse(f"{root}/notes/train.jsonl")
    notes.write_text("".join(json.dumps({"idx": i, "code": c, "symptoms": t}, ensure_ascii=False) + "\n"
                             for i, c, t in TRAIN))  # fmt: skip
    out = f"{root}/runs/ft"
    config = FinetuneConfig(
        notes=notes.uri, kg="demo", tasks=["note_from_title_symptoms", "kg_symptoms"], out=out,
        base_model=str(tiny_model), max_steps=4, batch_size=2, checkpoint_every=2, lora_r=4, lora_alpha=8,
        max_length=96, stop_after=2,
    )  # fmt: skip
    first = run_finetune(config)
    assert first["step"] == 2 and not first["complete"]
    saved = latest_checkpoint(f"{out}/ray", "finetune")
    assert saved is not None and saved.uri.startswith(f"{out}/ray/finetune/")
    assert saved.join("state.json").read_json()["step"] == 2
    second = run_finetune(replace(config, stop_after=0))
    assert second["resumed_from"] == 2 and second["complete"] and second["step"] == 4
    adapter = Location.parse(second["adapter"])
    assert adapter.uri == f"{out}/adapter"
    meta = adapter.join("medsyn_adapter.json").read_json()
    assert meta["complete"] and meta["data"]["notes"] == "train.jsonl" and meta["data"]["sha256"]
    assert adapter.join("adapter_model.safetensors").is_file()
    assert Location.parse(f"{out}/dataset/train").is_dir()
    with adapter.local_copy() as local:  # the adapter from S3 loads and changes the model's output
        request = [Request("a", prompt="### Задание:\n", params=SamplingParams(0, 1.0, 6))]
        with make_engine("hf", str(tiny_model), adapter=local) as tuned:
            assert tuned.generate(request)[0].error is None
