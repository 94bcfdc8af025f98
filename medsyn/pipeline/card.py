"""The dataset card of a generation run: how its notes were made, what they hold, what they are for and
what they are not, and the licences that pass on. Written as RUN/card.json and RUN/DATASET_CARD.md when
the run completes (just before summary.json, the completion marker); `medsyn quality RUN` shows it.

    card = build_card(config, summary, kept_manifest)
    write_card(RunDir("runs/notes"), card)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from medsyn import __version__
from medsyn.pipeline.rundir import RunDir
from medsyn.storage import Location

CARD_JSON = "card.json"
CARD_MD = "DATASET_CARD.md"

MODEL_TERMS = {
    "gemma3-270m": "Gemma Terms of Use (https://ai.google.dev/gemma/terms): not an OSI licence; its use "
    "restrictions pass on to the adapter and to notes made with it",
    "smollm2-135m-instruct": "Apache-2.0",
}
RUMEDTOP3 = (
    "RuMedTop3 (RuMedBench, Apache-2.0), built on RuMedPrime (CC BY 3.0: attribution required); the notes "
    "were prompt examples and the generator's training data"
)


def _files_sha256(directory: Path, pattern: str) -> str | None:
    files = sorted(directory.glob(pattern))
    if not files:
        return None
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _model(config: Any) -> dict[str, Any]:
    """The model and the adapter with their content fingerprints (where they are local directories)."""
    from medsyn.models import _model_dir, model_fingerprint

    model: dict[str, Any] = {"name": config.model, "engine": config.engine}
    directory = _model_dir(config.model) if config.engine in ("hf", "vllm") else None
    if directory is not None and directory.is_dir() and any(directory.glob("*.safetensors")):
        model["weights_sha256"] = model_fingerprint(directory)
    model["terms"] = MODEL_TERMS.get(str(config.model), "the model's own licence (not recorded by medsyn)")
    adapter: dict[str, Any] | None = None
    if config.adapter:
        from medsyn.generators import resolve_adapter

        path = resolve_adapter(config.adapter)
        adapter = {"name": str(config.adapter), "weights_sha256": _files_sha256(path, "*.safetensors")}
        meta = path / "medsyn_adapter.json"
        if meta.is_file():
            import json

            recorded = json.loads(meta.read_text(encoding="utf-8"))
            adapter["trained_on"] = recorded.get("data")
    model["adapter"] = adapter
    return model


def _kg(spec: str) -> dict[str, Any]:
    """The MKG: its name, and for a built KG directory its manifest (sources, counts, created)."""
    if spec == "demo":
        return {"name": "demo", "version": f"medsyn {__version__}'s demo KG (written by hand, not clinical)"}
    if spec.startswith(("bolt://", "neo4j://", "bolt+s://", "neo4j+s://")):
        return {"name": spec, "store": "neo4j"}
    manifest = Location.parse(spec, option="--kg").join("manifest.json")
    if not manifest.is_file():
        return {"name": spec}
    text = manifest.read_text()
    data = manifest.read_json()
    return {
        "name": spec,
        "version": hashlib.sha256(text.encode()).hexdigest()[:16],
        "created": data.get("created"),
        "sources": data.get("meta", {}).get("sources"),
        "counts": data.get("counts"),
    }


def build_card(config: Any, summary: dict[str, Any], kept: dict[str, Any] | None) -> dict[str, Any]:
    """The card's content from the run's config, its summary (the quality gates) and its kept set."""
    from medsyn.pipeline.generate import generation_settings

    gates = summary.get("quality") or {}
    per_code = (kept or {}).get("per_code") or {}
    notes_path = str(config.notes) if config.notes else None
    licences = {"model": MODEL_TERMS.get(str(config.model), "the model's own licence")}
    if notes_path and "rumedtop3" in notes_path.lower():
        licences["example_notes"] = RUMEDTOP3
    elif notes_path:
        licences["example_notes"] = f"the licence of {notes_path} (the user's notes: not recorded by medsyn)"
    kg = _kg(str(config.kg))
    licences["mkg"] = (
        f"the licences of its sources ({kg['sources']}; listed in the shared data's README)"
        if kg.get("sources")
        else "medsyn's demo KG (Apache-2.0, with medsyn)"
    )
    drift, realism = gates.get("drift", {}), gates.get("realism", {})
    limits = [
        "Synthetic notes, not patient records: never a basis for clinical decisions.",
        "Use them to add training data for rare codes beside real notes, and measure the gain with "
        "`medsyn evaluate` (against real notes copied to the same volume).",
    ]
    if drift.get("value") is not None:
        limits.append(
            f"Drift: {drift['value']:.3f} of the notes read as one of the 10 most frequent codes to a "
            "classifier trained on the real notes (target <= 0.40)."
        )
    if realism.get("value") is not None:
        limits.append(
            f"Realism: a classifier tells the notes from real notes of their codes with AUC "
            f"{realism['value']:.3f} (0.5 reads as real)."
        )
    return {
        "medsyn_version": __version__,
        "how_made": {
            "model": _model(config),
            "templates": list(config.templates),
            "form": config.form,
            "mkg": kg,
            "seed": config.seed,
            "allocation": config.allocation,
            "n": summary.get("planned"),
            "sampling": generation_settings(config),
            "example_notes": notes_path,
        },
        "holds": {
            "rows": summary.get("planned"),
            "kept": (kept or {}).get("notes"),
            "per_code": per_code,
            "filters": (kept or {}).get("funnel"),
            "quality_gates": gates,
        },
        "test_sets_checked": [s["path"] for s in (kept or {}).get("test_sets", [])],
        "intended_use_and_limits": limits,
        "licences": licences,
    }


def render_card(card: dict[str, Any]) -> str:
    """DATASET_CARD.md: the card for a person."""
    how, holds = card["how_made"], card["holds"]
    model = how["model"]
    adapter = model.get("adapter") or {}
    mkg = how["mkg"]
    sampling = ", ".join(f"{k} {v}" for k, v in how["sampling"].items() if k not in ("model", "adapter"))
    kept_n = holds["kept"] if holds["kept"] is not None else "none"
    lines = [
        "# Dataset card",
        "",
        f"Synthetic clinical notes made by medsyn {card['medsyn_version']}.",
        "",
        "## How it was made",
        "",
        f"- Model: `{model['name']}` on engine `{model['engine']}`"
        + (f" (weights sha256 `{model['weights_sha256'][:16]}`)" if model.get("weights_sha256") else ""),
    ]
    if adapter:
        sha = adapter.get("weights_sha256")
        lines.append(f"- Adapter: `{adapter['name']}`" + (f" (sha256 `{sha[:16]}`)" if sha else ""))
    lines += [
        f"- Templates: {', '.join(f'`{t}`' for t in how['templates'])} ({how['form']} form)",
        f"- MKG: `{mkg['name']}`" + (f", version `{mkg['version']}`" if "version" in mkg else ""),
        f"- Allocation: `{how['allocation']}`, {how['n']} notes planned, seed {how['seed']}",
        f"- Sampling: {sampling}",
        f"- Example notes: `{how['example_notes']}`" if how["example_notes"] else "- Example notes: none",
        "",
        "## What it holds",
        "",
        f"{holds['rows']} notes generated; {kept_n} kept by the filters (`kept/`).",
        "",
    ]
    if holds["per_code"]:
        lines += ["| code | attempts | kept | pass rate | removed by |", "|---|---:|---:|---:|---|"]
        for code, row in holds["per_code"].items():
            removed = ", ".join(f"{k} {v}" for k, v in row["removed"].items()) or "-"
            lines.append(
                f"| {code} | {row['attempts']} | {row['kept']} | {row['pass_rate']:.2f} | {removed} |"
            )
        lines.append("")
    if holds["quality_gates"]:
        lines += ["Quality gates:", "", "| gate | value | verdict |", "|---|---:|---|"]
        for name, gate in holds["quality_gates"].items():
            if isinstance(gate, dict) and "value" in gate:
                value = gate["value"]
                shown = f"{value:.3f}" if isinstance(value, float) else "-"
                lines.append(f"| {name} | {shown} | {_verdict(gate)} |")
        lines.append("")
    lines += ["## Intended use and known limits", ""]
    lines += [f"- {item}" for item in card["intended_use_and_limits"]]
    checked = card["test_sets_checked"]
    lines += [
        "",
        "## Test sets checked",
        "",
        (
            f"{', '.join(f'`{c}`' for c in checked)}: notes that copy a test note (5-gram containment) were "
            "removed from the kept set (`test_overlap` in the filters' funnel)."
            if checked
            else "None: no test set was checked for contamination (`--test`)."
        ),
        "",
        "## Licences that pass on",
        "",
    ]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in card["licences"].items()]
    return "\n".join(lines) + "\n"


def _verdict(gate: dict[str, Any]) -> str:
    if gate.get("too_few"):
        return f"too few notes to judge (n={gate['too_few']['n']}, needs {gate['too_few']['needs']})"
    if gate.get("passed") is None:
        return gate.get("reason", "reported")
    return "pass" if gate["passed"] else "fail"


def write_card(run: RunDir, card: dict[str, Any]) -> None:
    run.out.join(CARD_JSON).write_json(card)
    run.out.join(CARD_MD).write_text(render_card(card))


def read_card(run: str | Location) -> dict[str, Any] | None:
    loc = run if isinstance(run, Location) else Location.parse(run, option="RUN")
    path = loc.join(CARD_JSON)
    return path.read_json() if path.is_file() else None
