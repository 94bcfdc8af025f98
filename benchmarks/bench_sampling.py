"""Decoding speed per sampling setting: medsyn's sampling path against the same engine's own, and against
the engine's plain sampling (temperature only: the best plain use, what the settings should cost).

    .venv/bin/python benchmarks/bench_sampling.py [--engine vllm|hf] [--n 96] [--max-tokens 48]

The shipped generator (gemma3-270m with the gemma3-270m-ru adapter merged), the same prompts and seeds for
every row; each setting runs twice and the faster run counts (the first pays vLLM's warm-up). Printed:
tokens/s of each row and the ratios medsyn / engine's own, medsyn / plain. vLLM's own top-p sorts the
262k-token vocabulary of every row at every step and its frequency penalty builds a [batch, vocabulary]
table; medsyn's logits processors (`medsyn.engines.vllm_sampling`) do neither. For hf, the row "guided"
is medsyn's classifier-free guidance (scale 2, the no_disease negative prompt) at the same settings.
Targets (issue #41): the shipped settings at >= 3x the engine's own tokens/s, and guided decoding faster
than the engine's own unguided speed at the shipped settings.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

PROMPT = (
    "### Задание:\nНапиши запись о жалобах пациента с заболеванием «{title}», используя все перечисленные "
    "симптомы.\n\n### Вход:\n{symptoms}\n\n### Ответ:\n"
)
ITEMS = [
    ("Геморрой", "кровь в стуле, зуд"),
    ("Варикозное расширение вен нижних конечностей", "отёки ног, боль в ногах"),
    ("Угри", "сыпь на лице"),
    ("Гипертензивная болезнь", "головная боль, головокружение"),
]
SETTINGS = {  # name: (temperature, top_p, frequency_penalty)
    "shipped: T 0.5, top-p 0.9, frequency 0.1": (0.5, 0.9, 0.1),
    "T 1.0, top-p 0.95, frequency 0.1": (1.0, 0.95, 0.1),
    "plain: T 1.0": (1.0, 1.0, 0.0),
}


def best_of_two(run: Any) -> float:
    return max(run() for _ in range(2))


def bench_vllm(prompts: list[str], max_tokens: int) -> dict[str, float]:
    from vllm import SamplingParams as VLLMParams

    from medsyn.engines import SamplingParams
    from medsyn.engines.vllm_engine import VLLMEngine, sampling_kwargs
    from medsyn.models import merged_model

    engine = VLLMEngine(merged_model("gemma3-270m", "gemma3-270m-ru"))
    out: dict[str, float] = {}

    def speed(params: list[Any]) -> float:
        start = time.perf_counter()
        outputs = engine.llm.generate(prompts, params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs) / (time.perf_counter() - start)

    for name, (t, p, fp) in SETTINGS.items():
        settings = SamplingParams(t, p, max_tokens, frequency_penalty=fp)
        seeds = range(len(prompts))
        own = [
            VLLMParams(temperature=t, top_p=p, frequency_penalty=fp, max_tokens=max_tokens, seed=i)
            for i in seeds
        ]
        ours = [VLLMParams(**sampling_kwargs(settings, seed=i)) for i in seeds]
        out[f"{name} | vllm's own"] = best_of_two(lambda own=own: speed(own))
        out[f"{name} | medsyn"] = best_of_two(lambda ours=ours: speed(ours))
    engine.close()
    return out


def bench_hf(prompts: list[str], max_tokens: int) -> dict[str, float]:
    import dataclasses

    import medsyn.engines.hf as hf
    from medsyn.engines import Request, SamplingParams
    from medsyn.models import GEMMA

    engine = hf.HFEngine(GEMMA, adapter="gemma3-270m-ru", batch_size=16)
    negative = "### Задание:\nНапиши запись о жалобах пациента.\n\n### Ответ:\n"
    out: dict[str, float] = {}

    def speed(params: SamplingParams, guided: bool = False) -> float:
        requests = [
            Request(
                str(i),
                prompt=x,
                params=dataclasses.replace(params, seed=i),
                negative=negative if guided else None,
            )
            for i, x in enumerate(prompts)
        ]
        start = time.perf_counter()
        results = engine.generate(requests)
        return sum(r.completion_tokens or 0 for r in results) / (time.perf_counter() - start)

    for name, (t, p, fp) in SETTINGS.items():
        params = SamplingParams(t, p, max_tokens, frequency_penalty=fp)
        out[f"{name} | medsyn"] = best_of_two(lambda params=params: speed(params))
        if name.startswith("shipped"):
            guided = dataclasses.replace(params, guidance_scale=2.0)
            out[f"{name} | medsyn guided (scale 2)"] = best_of_two(lambda guided=guided: speed(guided, True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    parser.add_argument("--n", type=int, default=96, help="prompts")
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    prompts = [
        ("<bos>" if args.engine == "vllm" else "") + PROMPT.format(title=t, symptoms=s)
        for t, s in (ITEMS * (args.n // len(ITEMS) + 1))[: args.n]
    ]
    speeds = (bench_vllm if args.engine == "vllm" else bench_hf)(prompts, args.max_tokens)
    plain = next(v for k, v in speeds.items() if k.startswith("plain") and k.endswith("medsyn"))
    for name, value in speeds.items():
        own = speeds.get(name.replace("| medsyn", "| vllm's own")) if name.endswith("| medsyn") else None
        ratio = f"  medsyn/own {value / own:.2f}" if own and own != value else ""
        print(f"{name:58s} {value:7.1f} tokens/s  /plain {value / plain:.2f}{ratio}", flush=True)


if __name__ == "__main__":
    main()
