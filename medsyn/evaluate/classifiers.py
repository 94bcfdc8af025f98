"""ICD-10 classifiers for the upsampling experiments: `tfidf` (medsyn.quality.classifier, RuMedBench's
feature baseline) and `transformer` (medsyn.evaluate.transformer, trained through Ray Train)."""

from __future__ import annotations

from typing import Literal, get_args

from medsyn.quality.classifier import TfidfClassifier, TfidfConfig

__all__ = ["CLASSIFIERS", "Classifier", "TfidfClassifier", "TfidfConfig"]

Classifier = Literal["tfidf", "transformer"]
CLASSIFIERS: tuple[Classifier, ...] = get_args(Classifier)
