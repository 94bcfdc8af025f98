"""Settings of medsyn's Serve application (one dataclass: CLI flags, YAML `args:` and code alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medsyn.config import check_choices, option
from medsyn.errors import ConfigError

ENGINES = ("vllm", "hf")


@dataclass
class ServeConfig:
    model: str = option(
        None,
        help="model directory or packaged model name (default: the --language's shipped generator, ru: "
        "gemma3-270m with medsyn's adapter served as gemma3-270m:ru; else smollm2-135m-instruct)",
    )
    engine: Literal["vllm", "hf"] = option(
        "vllm",
        help="generator replicas: vllm, or hf (transformers: the fallback where vLLM cannot run the model)",
    )
    model_id: str | None = option(None, help="name clients pass as `model` (default: the --model value)")
    adapters: list[str] = option(
        default_factory=list,
        help="LoRA adapters clients select as MODEL_ID:NAME, each NAME=DIR (or DIR: named after it), "
        "on a path every node sees",
    )
    max_lora_rank: int = option(64, help="largest LoRA rank an adapter may have")
    kg: str | None = option(
        None, help="KG for /v1/notes: 'demo', a KG directory, or a Neo4j URI (default: demo)"
    )
    notes: str | None = option(None, help="real notes (train split) /v1/notes may take example notes from")
    language: Literal["ru", "en"] = option("ru", help="/v1/notes: default language of symptoms and templates")
    notes_model: str | None = option(
        None, help="/v1/notes: served model of requests that name none (default: the shipped generator's)"
    )
    notes_template: str | None = option(
        None,
        help="/v1/notes: template of requests that name none (default: the generator's, else paper_main)",
    )
    notes_form: Literal["chat", "completion"] | None = option(
        None, help="/v1/notes: prompt form, chat or completion (default: the generator's, else chat)"
    )
    notes_temperature: float | None = option(
        None, help="/v1/notes: temperature of requests that give none (default: the generator's, else 0.8)"
    )
    notes_top_p: float | None = option(
        None, help="/v1/notes: top_p of requests that give none (default: the generator's, else 0.95)"
    )
    notes_frequency_penalty: float | None = option(
        None,
        help="/v1/notes: frequency penalty of requests that give none (default: the generator's, else 0)",
    )
    notes_guidance_scale: float | None = option(
        None,
        help="/v1/notes: guided decoding's scale for requests that give none (1 = off; > 1 needs --engine "
        "hf; default: the generator's with --engine hf, else 1)",
    )
    notes_negative_prompt: Literal["no_disease", "confuser"] | None = option(
        None, help="/v1/notes: guided decoding's negative prompt (default: the generator's, else no_disease)"
    )
    notes_opening_words: int | None = option(
        None,
        help="/v1/notes, form completion: notes start with the first N words of another real note of their "
        "code (from --notes) for requests that give none (default: the generator's, else 0)",
    )
    max_model_len: int = option(2048, help="context length of the generator (prompt + max_tokens)")
    max_tokens_limit: int = option(1024, help="largest max_tokens a request may ask for")
    default_max_tokens: int = option(256, help="max_tokens when a request gives none")
    max_prompt_chars: int = option(16000, help="longest prompt (characters, all messages together)")
    max_n: int = option(8, help="largest n (choices per request) and notes per code in /v1/notes")
    max_codes: int = option(32, help="most codes in one /v1/notes request")
    min_replicas: int = option(1, help="autoscaling: fewest generator replicas")
    max_replicas: int = option(1, help="autoscaling: most generator replicas")
    target_ongoing_requests: int = option(16, help="autoscaling: ongoing requests per replica to aim for")
    max_ongoing_requests: int = option(64, help="requests a replica accepts at once (more wait in the proxy)")
    replica_cpus: float = option(1.0, help="CPUs each generator replica reserves (fractions allowed)")
    num_gpus: float | None = option(
        None, help="GPUs per generator replica (default: 1 with the gpu extra's CUDA vLLM installed, else 0)"
    )
    request_timeout_s: float = option(300.0, help="HTTP request timeout (seconds)")
    graceful_shutdown_timeout_s: float = option(30.0, help="time a stopping replica gets to finish requests")
    health_check_period_s: float = option(10.0, help="seconds between replica health checks")
    auth: Literal["on", "off", "auto"] = option(
        "auto",
        help="on: every route needs Authorization: Bearer KEY and a missing key stops the deploy; off; "
        "auto: on when a key is found. The key is read where the app is built; only its digest travels",
    )
    api_key_env: str = option(
        "MEDSYN_API_KEY", help="environment variable holding the API key, where the app is built"
    )
    api_key_file: str | None = option(
        None, help="file holding the API key (read where the app is built; wins over api_key_env)"
    )
    host: str = option("127.0.0.1", help="medsyn serve: HTTP host")
    port: int = option(8000, help="medsyn serve: HTTP port")
    ray_address: str | None = option(
        None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)"
    )

    def __post_init__(self) -> None:
        from medsyn.generators import generator_for
        from medsyn.models import DEFAULT_MODEL

        if self.model is None:
            generator = generator_for(self.language)
            self.model = generator.base_model if generator else DEFAULT_MODEL
            if generator is not None:
                entry = f"{generator.language}={generator.name}"
                if entry not in self.adapters:
                    self.adapters = [*self.adapters, entry]
                self.notes_model = self.notes_model or f"{self.served_name}:{generator.language}"
                self.notes_template = self.notes_template or generator.template
                self.notes_form = self.notes_form or generator.form
                for name in ("temperature", "top_p", "frequency_penalty", "opening_words", "negative_prompt"):
                    if getattr(self, f"notes_{name}") is None:
                        setattr(self, f"notes_{name}", getattr(generator, name))
                if self.notes_guidance_scale is None and self.engine == "hf":
                    self.notes_guidance_scale = generator.guidance_scale
        self.notes_template = self.notes_template or "paper_main"
        self.notes_form = self.notes_form or "chat"
        self.notes_temperature = 0.8 if self.notes_temperature is None else self.notes_temperature
        self.notes_top_p = 0.95 if self.notes_top_p is None else self.notes_top_p
        self.notes_frequency_penalty = self.notes_frequency_penalty or 0.0
        self.notes_opening_words = self.notes_opening_words or 0
        self.notes_guidance_scale = self.notes_guidance_scale or 1.0
        self.notes_negative_prompt = self.notes_negative_prompt or "no_disease"
        check_choices(self)
        if not 1 <= self.notes_guidance_scale <= 10:
            raise ConfigError(
                f"notes_guidance_scale must be in [1, 10] (1 = off), got {self.notes_guidance_scale}",
                option="notes_guidance_scale",
            )
        if self.notes_guidance_scale != 1 and self.engine != "hf":
            raise ConfigError(
                f"notes_guidance_scale {self.notes_guidance_scale} needs --engine hf (transformers "
                "replicas): vLLM has no guided decoding",
                option="notes_guidance_scale",
            )
        if self.notes_opening_words < 0 or (self.notes_opening_words and self.notes_form != "completion"):
            raise ConfigError(
                f"notes_opening_words {self.notes_opening_words} needs a count >= 0 and notes_form "
                f"completion (notes_form is {self.notes_form!r}); use --notes-opening-words 0",
                option="notes_opening_words",
            )
        if not 1 <= self.default_max_tokens <= self.max_tokens_limit:
            raise ConfigError(
                f"need 1 <= default_max_tokens <= max_tokens_limit, got {self.default_max_tokens} "
                f"and {self.max_tokens_limit}"
            )
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ConfigError(
                f"need 0 <= min_replicas <= max_replicas and max_replicas >= 1, got {self.min_replicas} "
                f"and {self.max_replicas}"
            )

    @property
    def served_name(self) -> str:
        return self.model_id or self.model
