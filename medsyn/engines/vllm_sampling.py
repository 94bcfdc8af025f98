"""medsyn's sampling steps inside vLLM (its v1 logits-processor API): top-p and the frequency penalty without
a pass over the whole vocabulary (`medsyn.engines.fast_sampling`).

vLLM's own top-p sorts every row's 262,144 logits at every step, and its frequency penalty builds a
[batch, vocabulary] count table: on the CPU the two cost about 3/4 of a decoding step of the shipped
generator. medsyn's engines hand vLLM `top_p=1` and `frequency_penalty=0` and these two processors do the
same work; the sampler then only draws.

    LLM(model, logits_processors=LOGITS_PROCESSORS)   # medsyn.engines.vllm_engine; ray.data.llm alike
    SamplingParams(**sampling_kwargs(params))          # top_p and the penalty in extra_args

A request without medsyn's `extra_args` is left as vLLM would treat it. The order is vLLM's: the penalty
before the temperature (and before vLLM's repetition penalty, where both are given), the nucleus after it.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from medsyn.engines.fast_sampling import frequency_penalty_, nucleus
from medsyn.engines.vllm_engine import FREQUENCY_PENALTY, TOP_P


def _arg(params: Any, name: str) -> Any:
    return (getattr(params, "extra_args", None) or {}).get(name)


class NucleusProcessor(LogitsProcessor):
    """Top-p of the requests that carry `medsyn_top_p` < 1 (after vLLM's temperature)."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.top_p: dict[int, float] = {}

    def is_argmax_invariant(self) -> bool:
        return True  # the best token is always in the nucleus

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        def state(params: Any, _prompt: Any, _output: Any) -> float | None:
            p = _arg(params, TOP_P)
            return float(p) if p is not None and p < 1 else None

        process_dict_updates(self.top_p, batch_update, state)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.top_p:
            return logits
        rows = torch.tensor(sorted(self.top_p), dtype=torch.long)
        p = torch.tensor([self.top_p[int(r)] for r in rows], dtype=logits.dtype)
        logits[rows] = nucleus(logits[rows], top_p=p)
        return logits


class FrequencyPenaltyProcessor(LogitsProcessor):
    """The frequency penalty of requests that carry `medsyn_frequency_penalty`, at their generated tokens."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.state: dict[int, tuple[float, list[int]]] = {}

    def is_argmax_invariant(self) -> bool:
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        def state(params: Any, _prompt: Any, output: list[int]) -> tuple[float, list[int]] | None:
            penalty = _arg(params, FREQUENCY_PENALTY)
            return (float(penalty), output) if penalty else None  # `output` grows as the request decodes

        process_dict_updates(self.state, batch_update, state)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for row, (penalty, output) in self.state.items():
            if output:
                ids = torch.tensor(output, dtype=torch.long).unsqueeze(0)
                frequency_penalty_(logits[row : row + 1], ids, penalty)
        return logits
