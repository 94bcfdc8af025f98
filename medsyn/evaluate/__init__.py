"""Does upsampling with synthetic notes help an ICD-10 classifier? Filters, privacy check, experiment, report.

from medsyn.evaluate import EvaluateConfig, run_evaluate
config = EvaluateConfig(train="train.jsonl", test="dev.jsonl", synthetic=["runs/notes"], out="runs/eval")
report = run_evaluate(config)
"""

from medsyn.evaluate.experiment import EvaluateConfig, run_evaluate

__all__ = ["EvaluateConfig", "run_evaluate"]
