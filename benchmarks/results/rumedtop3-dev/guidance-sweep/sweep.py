"""Guided decoding on the 40 rarest RuMedTop3 codes: 120 notes per setting with the shipped generator on
the hf engine, each scored by the quality gates and the drift to the 10 most frequent train codes (dev
notes of the same codes as the real reference; the test split is never used).

    .venv/bin/python benchmarks/results/rumedtop3-dev/guidance-sweep/sweep.py [--n 120] [NAME ...] > sweep.log

Writes runs/guidance-sweep/NAME[-nN]/ (the runs) and, here, NAME[-nN].json (the settings, speed, gates and
drift); 120 notes (3 per code) unless --n says otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from medsyn.evaluate.synthetic import read_synthetic
from medsyn.notes import load_notes
from medsyn.pipeline import GenerateConfig, run_generate
from medsyn.quality.classifier import TfidfClassifier

HERE = Path(__file__).parent
ROOT = HERE.parents[3]
TRAIN = "../shared/data/rumedbench/RuMedTop3/train_v1.jsonl"
DEV = "../shared/data/rumedbench/RuMedTop3/dev_v1.jsonl"
BASE = yaml.safe_load((ROOT / "jobs/configs/rumedtop3_rare_generate.yaml").read_text())

# name: (guidance scale, negative prompt, temperature, top_p)
SETTINGS = {
    "g1-t0.5": (1.0, "no_disease", 0.5, 0.9),  # today's shipped sampling, on the hf engine
    "g1-t1.0": (1.0, "no_disease", 1.0, 0.95),
    "g2-nd-t1.0": (2.0, "no_disease", 1.0, 0.95),
    "g2-nd-t0.5": (2.0, "no_disease", 0.5, 0.9),
    "g2-nd-t0.8": (2.0, "no_disease", 0.8, 0.95),
    "g1.5-nd-t1.0": (1.5, "no_disease", 1.0, 0.95),
    "g1.5-nd-t0.8": (1.5, "no_disease", 0.8, 0.95),
    "g3-nd-t0.8": (3.0, "no_disease", 0.8, 0.95),
    "g3-nd-t1.0": (3.0, "no_disease", 1.0, 0.95),
    "g2-cf-t1.0": (2.0, "confuser", 1.0, 0.95),
    "g2-cf-t0.8": (2.0, "confuser", 0.8, 0.95),
}


def drift(texts: list[str], codes: list[str]) -> dict:
    train = load_notes(TRAIN)
    train_codes = [str(c) for c in train["code"].to_pylist()]
    frequent = {c for c, _ in Counter(train_codes).most_common(10)}
    clf = TfidfClassifier(seed=0).fit(train["text"].to_pylist(), train_codes)

    def top1(ts: list[str]) -> list[str]:
        return [clf.classes[i] for i in clf.scores(ts).argmax(axis=1)]

    wanted = set(codes)
    dev = [
        (t, c)
        for t, c in zip(*(load_notes(DEV)[k].to_pylist() for k in ("text", "code")), strict=True)
        if c in wanted
    ]
    synthetic_top1, real_top1 = top1(texts), top1([t for t, _ in dev])
    return {
        "synthetic": round(float(np.mean([c in frequent for c in synthetic_top1])), 3),
        "real_dev": round(float(np.mean([c in frequent for c in real_top1])), 3),
        "top1_most_common": Counter(synthetic_top1).most_common(5),
    }


def main() -> None:
    args = sys.argv[1:]
    n = 120
    if args[:1] == ["--n"]:
        n, args = int(args[1]), args[2:]
    for name in args or list(SETTINGS):
        scale, negative, temperature, top_p = SETTINGS[name]
        label = name if n == 120 else f"{name}-n{n}"
        settings = {"n": n, "out": f"runs/guidance-sweep/{label}", "engine": "hf", "batch_size": 16}
        settings.update(guidance_scale=scale, negative_prompt=negative, temperature=temperature, top_p=top_p)
        config = GenerateConfig(**{**BASE, **settings})
        start = time.perf_counter()
        summary = run_generate(config, progress=False)
        seconds = time.perf_counter() - start
        notes = read_synthetic(config.out)
        texts = [t or "" for t in notes["text"].to_pylist()]
        result = {
            "setting": {
                "guidance_scale": scale,
                "negative_prompt": negative,
                "temperature": temperature,
                "top_p": top_p,
            },
            "engine": "hf",
            "this_run": summary.get("this_run"),
            "seconds_with_start": round(seconds, 1),
            "quality": summary.get("quality"),
            "drift": drift(texts, [str(c) for c in notes["code"].to_pylist()]),
            "examples": [
                [c, t] for c, t in zip(notes["code"].to_pylist()[:120:12], texts[:120:12], strict=True)
            ],
        }
        (HERE / f"{label}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
        q = result["quality"] or {}
        values = {
            k: (q.get(k) or {}).get("value") for k in ("classifier_agreement", "realism", "symptom_recall")
        }
        values.update({k: (q.get(k) or {}).get("value") for k in ("language", "degenerate")})
        speed = (summary.get("this_run") or {}).get("tokens_per_s")
        print(label, f"drift {result['drift']['synthetic']}", values, f"tok/s {speed}", flush=True)


if __name__ == "__main__":
    main()
