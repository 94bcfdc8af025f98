"""ICD-10 classifiers for the upsampling experiments: `tfidf` (medsyn.quality.classifier, RuMedBench's
feature baseline) and `transformer` (medsyn.evaluate.transformer, trained through Ray Train)."""

from __future__ import annotations

from medsyn.errors import MedsynError
from medsyn.quality.classifier import TfidfClassifier, TfidfConfig

__all__ = ["CLASSIFIERS", "TfidfClassifier", "TfidfConfig", "check_classifier"]

# tfidf: medsyn.quality.classifier; transformer: medsyn.evaluate.transformer (Ray Train).
CLASSIFIERS = ("tfidf", "transformer")


def check_classifier(name: str) -> None:
    if name not in CLASSIFIERS:
        raise MedsynError(f"unknown classifier {name!r}; valid: {', '.join(CLASSIFIERS)}")
