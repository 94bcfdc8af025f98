"""Realism (can a classifier tell the notes from real train notes of the same codes?) of generated runs,
and of the real dev notes of the same codes as the control: what "reads as real" measures on real notes.

    .venv/bin/python benchmarks/results/rumedtop3-dev/realism.py runs/rumedtop3-rare [RUN ...]

Each run is judged as `medsyn quality` judges it (the same `RealReference`, the run's own --notes and
--kg); the control takes the dev notes of the codes of the first run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from medsyn.notes import load_notes
from medsyn.pipeline.rundir import RunDir
from medsyn.quality.gates import reference_for, run_gates
from medsyn.quality.realism import realism

DEV = Path("../shared/data/rumedbench/RuMedTop3/dev_v1.jsonl")


def main(runs: list[str]) -> None:
    results = {}
    codes: set[str] = set()
    for run in runs:
        config = RunDir(run).run_info()["config"]  # type: ignore[index]
        reference = reference_for(config["notes"], config["kg"], config.get("language", "ru"))
        assert reference is not None, f"{run} has no --notes to judge against"
        gates = run_gates(run, reference)
        codes = codes or set(RunDir(run).read(["code"])["code"].to_pylist())
        results[run] = gates["realism"] | {"classifier_agreement": gates["classifier_agreement"]["value"]}
    train = reference.texts, reference.codes
    dev = load_notes(DEV)
    pairs = zip(dev["text"].to_pylist(), dev["code"].to_pylist(), strict=True)
    dev_texts = [text for text, code in pairs if code in codes]
    real = [t for t, c in zip(*train, strict=True) if c in codes]
    results["real dev notes of the same codes (control)"] = realism(dev_texts, real)
    for name, r in results.items():
        print(f"{name}: AUC {r['value']:.3f} ({r['generated']} notes against {r['real']} real train notes)")
        print(f"  marks the notes: {', '.join(r['generated_markers'])}")
        print(f"  marks the real ones: {', '.join(r['real_markers'])}")
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
