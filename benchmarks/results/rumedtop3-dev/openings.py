"""What a run's openings (`--opening-words`) do to its gates, with the control that keeps the agreement
gate honest: the real-trained classifier judged on each note without its opening (the generator's own
words) and on the opening alone (the borrowed words). A run without openings reads n/a for those.

    .venv/bin/python benchmarks/results/rumedtop3-dev/openings.py runs/rumedtop3-rare [RUN ...]
"""

from __future__ import annotations

import sys

import pyarrow as pa

from medsyn.pipeline.rundir import RunDir
from medsyn.quality.gates import quality_gates, reference_for, run_gates

OPENING = "жалобы на"


def main(runs: list[str]) -> None:
    for run in runs:
        config = RunDir(run).run_info()["config"]  # type: ignore[index]
        reference = reference_for(config["notes"], config["kg"], config.get("language", "ru"))
        assert reference is not None, f"{run} has no --notes to judge against"
        gates = run_gates(run, reference)
        rows = RunDir(run).read(["code", "text", "error", "opening"]).to_pylist()
        ok = [r for r in rows if r["text"] and not r["error"]]
        share = sum(r["text"].lower().startswith(OPENING) for r in ok) / len(ok)
        values = {k: gates[k]["value"] for k in ("language", "degenerate", "symptom_recall", "copy_rate")}
        print(f"{run}: {len(ok)} notes, opening words {config.get('opening_words') or 0}")
        print("  " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
        print(f"  realism AUC {gates['realism']['value']:.3f}; notes opening with 'Жалобы на' {share:.3f}")
        agreement = {"whole note": gates["classifier_agreement"]["value"]}
        if any(r.get("opening") for r in ok):
            for name, cut in (("without its opening", _rest), ("its opening alone", _opening)):
                table = pa.Table.from_pylist([{"code": r["code"], "text": cut(r), "error": None} for r in ok])
                agreement[name] = quality_gates(table, reference)["classifier_agreement"]["value"]
        print("  classifier agreement: " + ", ".join(f"{k} {v:.3f}" for k, v in agreement.items()))
        codes = {r["code"] for r in ok}
        real = [t for t, c in zip(reference.texts, reference.codes, strict=True) if c in codes]
        real_share = sum(t.lower().startswith(OPENING) for t in real) / len(real)
        print(f"  real train notes of its codes opening with 'Жалобы на': {real_share:.3f}")


def _opening(row: dict) -> str:
    return row["opening"] or "-"


def _rest(row: dict) -> str:
    opening = row["opening"] or ""
    return row["text"][len(opening) :].strip() or "-" if row["text"].startswith(opening) else row["text"]


if __name__ == "__main__":
    main(sys.argv[1:])
