"""medsyn's Ray Serve application: an OpenAI-compatible endpoint on vLLM replicas, plus /v1/notes."""

from medsyn.serving.config import ServeConfig

__all__ = ["ServeConfig"]
