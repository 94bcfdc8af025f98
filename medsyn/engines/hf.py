"""transformers engine: batched `generate`, on CPU or GPU.

Each batch seeds torch from its requests' seeds, so the same batches reproduce the same texts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from medsyn.engines.base import Engine, Request, Result, error_results, set_torch_threads
from medsyn.engines.hf_sampling import generate_kwargs
from medsyn.errors import ConfigError
from medsyn.models import check_adapter, resolve_model, with_bos


class HFEngine(Engine):
    name = "hf"

    def __init__(
        self,
        model: str | Path,
        *,
        adapter: str | Path | None = None,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        import torch

        if threads:
            set_torch_threads(threads)  # Ray workers start with OMP_NUM_THREADS=1
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = str(model)
        path = resolve_model(model)
        if adapter is not None:
            adapter = check_adapter(adapter, path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"auto": torch.bfloat16 if self.device == "cuda" else torch.float32}.get(dtype)
        if torch_dtype is None:
            torch_dtype = getattr(torch, dtype, None)
            if not isinstance(torch_dtype, torch.dtype):
                raise ConfigError(f"dtype {dtype!r} is not valid; use auto, float32, bfloat16 or float16")
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        lm: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        self.lm: Any = lm.to(self.device).eval()
        if adapter is not None:
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, str(adapter)).eval()
        self.batch_size = batch_size

    def _text(self, prompt: str | list[dict[str, str]]) -> str:
        if not isinstance(prompt, str):
            if self.tokenizer.chat_template is None:
                raise ConfigError(f"model {self.model} has no chat template: use the completion form")
            return str(self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True))
        return with_bos(self.tokenizer, prompt)

    def generate(self, requests: list[Request]) -> list[Result]:
        out: list[Result] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            # Requests of one batch share sampling settings; split where they differ.
            groups: dict[tuple, list[Request]] = {}
            for r in chunk:
                p = r.params
                key = (
                    p.temperature,
                    p.top_p,
                    p.max_tokens,
                    p.stop,
                    p.repetition_penalty,
                    p.frequency_penalty,
                    p.guidance_scale,
                )
                groups.setdefault(key, []).append(r)
            results: dict[str, Result] = {}
            for group in groups.values():
                try:
                    for res in self._generate_batch(group):
                        results[res.id] = res
                except Exception as exc:  # a failed batch becomes error rows, not lost rows
                    for res in error_results(group, exc):
                        results[res.id] = res
            out.extend(results[r.id] for r in chunk)
        return out

    def _generate_batch(self, requests: list[Request]) -> list[Result]:
        import torch

        params = requests[0].params
        seed = sum((r.params.seed or 0) for r in requests) % (2**63)
        torch.manual_seed(seed)
        texts = [self._text(r.prompt if r.prompt is not None else r.messages or []) for r in requests]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        negative: Any = {}
        if params.guidance_scale != 1.0:
            negatives = [self._text(r.negative or "") for r in requests]
            negative = self.tokenizer(
                negatives, return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
        start = time.perf_counter()
        kwargs = generate_kwargs(
            self.tokenizer,
            max_tokens=params.max_tokens,
            prompt_len=enc["input_ids"].shape[1],
            temperature=params.temperature,
            top_p=params.top_p,
            repetition_penalty=params.repetition_penalty,
            frequency_penalty=params.frequency_penalty,
            stop=params.stop,
            guidance_scale=params.guidance_scale,
            negative_ids=negative.get("input_ids"),
            negative_mask=negative.get("attention_mask"),
        )
        with torch.inference_mode():
            generated = self.lm.generate(**enc, **kwargs)
        latency = time.perf_counter() - start
        new_tokens = generated[:, enc["input_ids"].shape[1] :]
        results = []
        for i, r in enumerate(requests):
            ids = new_tokens[i].tolist()
            eos_at = next(
                (
                    j
                    for j, t in enumerate(ids)
                    if t in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
                ),
                None,
            )
            ids = ids[:eos_at] if eos_at is not None else ids
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            finish = "stop" if eos_at is not None else "length"
            for s in params.stop:
                if s in text:
                    text, finish = text[: text.index(s)], "stop"
            results.append(
                Result(
                    r.id,
                    text.strip(),
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=len(ids),
                    finish_reason=finish,
                    latency_s=latency,
                )
            )
        return results
