"""Does upsampling with synthetic notes help an ICD-10 classifier? Filters, privacy check, experiment, report.

from medsyn.evaluate import EvaluateConfig, run_evaluate
config = EvaluateConfig(train="train.jsonl", test="dev.jsonl", synthetic=["runs/notes"], out="runs/eval")
report = run_evaluate(config)
"""

from medsyn.evaluate.experiment import EvaluateConfig, fit_and_rank, run_evaluate, run_fits
from medsyn.evaluate.upsample import TrainingSet, UpsampleConfig, training_sets
from medsyn.quality.filters import FilterConfig, apply_filters

__all__ = [
    "EvaluateConfig",
    "FilterConfig",
    "TrainingSet",
    "UpsampleConfig",
    "apply_filters",
    "fit_and_rank",
    "run_evaluate",
    "run_fits",
    "training_sets",
]
