"""medsyn's own generators: LoRA adapters shipped with medsyn, each on a packaged base model.

    from medsyn.generators import generator_for
    g = generator_for("ru")           # Generator(name='gemma3-270m-ru', base_model='gemma3-270m', ...)
    g.adapter_dir                     # medsyn/generators/gemma3-270m-ru (adapter + medsyn_adapter.json)

`medsyn generate --language ru` (and `medsyn serve`) use the generator of the language unless `--model` is
given. Each adapter was trained by `medsyn finetune --config medsyn/generators/NAME.yaml` (the YAML beside
it); its medsyn_adapter.json records the data, config, seed, steps and losses.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medsyn.errors import DataError


@dataclass(frozen=True)
class Generator:
    name: str
    language: str
    base_model: str  # a packaged model name (medsyn.models.PACKAGED)
    template: str  # the prompt template it was trained on (medsyn/prompts/templates.yaml); its fallback too
    form: str
    temperature: float
    top_p: float
    max_tokens: int
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    opening_words: int = 0  # the job's default --opening-words with this generator
    guidance_scale: float = 1.0  # guided decoding's scale where the engine has it (hf); 1 = off
    negative_prompt: str = "no_disease"  # guided decoding's negative prompt

    @property
    def adapter_dir(self) -> Path:
        return Path(str(resources.files("medsyn.generators").joinpath(self.name)))

    @property
    def config_file(self) -> Path:
        return Path(str(resources.files("medsyn.generators").joinpath(f"{self.name}.yaml")))


GENERATORS = {
    "gemma3-270m-ru": Generator(
        name="gemma3-270m-ru",
        language="ru",
        base_model="gemma3-270m",
        template="instruction_note_example",
        form="completion",
        temperature=0.5,
        top_p=0.9,
        max_tokens=128,
        # 120 rare-code notes each (vLLM): 0 -> 4.2% degenerate, recall 0.64, agreement 0.33; 0.3 -> 0%,
        # 0.57, 0.29; 0.6 -> 0%, 0.54, 0.28. repetition_penalty 1.15 also ends the loops but counts the
        # prompt's tokens too, so the note avoids its own symptoms (recall 0.20). On 1,000 notes: 0 -> 5.6%
        # degenerate (over the 3% gate), recall 0.62; 0.3 -> 0.2%, 0.57; 0.1 -> 1.1%, 0.61: the least
        # penalty that keeps the loops under the gate (docs/guides/generator.md).
        frequency_penalty=0.1,
    ),
}


def generator_for(language: str) -> Generator | None:
    """The shipped generator writing `language` (None where medsyn ships none)."""
    return next((g for g in GENERATORS.values() if g.language == language), None)


def resolve_adapter(adapter: str | Path) -> Path:
    """An adapter directory: a shipped generator's name (`gemma3-270m-ru`) or a path."""
    name = str(adapter)
    if name in GENERATORS:
        path = GENERATORS[name].adapter_dir
        if not (path / "adapter_config.json").is_file():
            raise DataError(f"the shipped generator {name!r} is missing its adapter files in {path}")
        return path
    return Path(name).expanduser()
