"""The Ray Data generation job: plan -> prompt -> generate -> score -> write Parquet shards.

    from medsyn.pipeline import GenerateConfig, run_generate
    summary = run_generate(GenerateConfig(codes=["J06"], n=4, engine="dry-run", out="/tmp/notes"))

Modules: `generate` (the config and the job), `stages` (the Ray Data stages), `rundir` (the run
directory: plan, shards, lease, resume), `schema` (the notes' Parquet schema).
"""

from medsyn.pipeline.generate import GenerateConfig, prepare, run_generate
from medsyn.pipeline.rundir import RunDir

__all__ = ["GenerateConfig", "RunDir", "prepare", "run_generate"]
