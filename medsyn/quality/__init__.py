"""Quality and privacy scores of generated notes."""

from medsyn.quality.scores import NoteScores, score_note, symptom_recall

__all__ = ["NoteScores", "score_note", "symptom_recall"]
