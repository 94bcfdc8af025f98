"""Writes one API reference page per medsyn package at build time (mkdocs-gen-files); mkdocstrings renders
each from the package's docstrings and its public names (`__all__`), each shown where it is defined.

    mkdocs build --strict
"""

from __future__ import annotations

import mkdocs_gen_files

# The packages and modules a user imports, in the order of the data flow (mkdocs.yml's nav lists them too).
PACKAGES = {
    "kg": "The MKG: model, stores (embedded Parquet, Neo4j), importers, `open_kg`.",
    "sampling": "Allocation and the planner: codes, symptoms, examples per note.",
    "prompts": "Versioned prompt templates.",
    "engines": "Generation engines: vLLM, transformers, OpenAI-compatible endpoints.",
    "pipeline": "The generation job on Ray Data and its run directory.",
    "quality": "Per-note scores and the quality gates.",
    "evaluate": "Filters, privacy, classifiers, the upsample-and-evaluate experiment.",
    "finetune": "Instruction data and LoRA fine-tuning on Ray Train.",
    "serving": "The Ray Serve application: OpenAI-compatible routes and `/v1/notes`.",
    "storage": "Local paths and URIs (object stores) through one storage layer.",
    "models": "Packaged models, their conversion cache, LoRA adapters.",
    "ray_env": "A local Ray or a cluster's: start, connect, node checks.",
    "errors": "The errors medsyn raises, each naming the bad value.",
}

for name, summary in PACKAGES.items():
    with mkdocs_gen_files.open(f"reference/api/{name}.md", "w") as page:
        page.write(f"# medsyn.{name}\n\n{summary}\n\n::: medsyn.{name}\n")
