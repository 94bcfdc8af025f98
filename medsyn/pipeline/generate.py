"""The generation job on Ray Data: plan -> prompt -> generate -> score -> write Parquet shards.

    medsyn generate --codes M54,I10 --n 100 --engine vllm --out runs/notes
    python jobs/generate.py --config gen.yaml          # or through `ray job submit`

Local Ray by default, the cluster when RAY_ADDRESS is set. The output directory holds `run.json` (the
plan's fingerprint, config and allocation, written first), `shards/part-*.parquet` (one row per planned
note, failures included) and `summary.json` (written last, when every planned row is there). Rerunning
with the same directory finishes the missing rows; `--overwrite` starts afresh; another plan is refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from medsyn.config import check_choices, option
from medsyn.engines import ENGINES, SamplingParams
from medsyn.errors import ConfigError
from medsyn.gpu_check import check_gpus
from medsyn.kg import open_kg
from medsyn.models import DEFAULT_MODEL, check_adapter, check_model, merged_model, resolve_model
from medsyn.notes import load_notes
from medsyn.pipeline import stages
from medsyn.pipeline.card import build_card, write_card
from medsyn.pipeline.kept import KEPT, write_kept
from medsyn.pipeline.rundir import RunDir
from medsyn.prompts import with_opening
from medsyn.quality.filters import FilterConfig
from medsyn.quality.scores import COPY_THRESHOLD
from medsyn.ray_env import (
    check_output,
    default_gpus,
    init_ray,
    logs_to_file,
    node_cores,
    on_every_node,
    run_log_file,
    smallest_node_cores,
)
from medsyn.sampling.plan import PlanConfig, Planner, build_planner
from medsyn.storage import Location

JOB_ENGINES = (*ENGINES, stages.DRY_RUN)
CPU_MAX_NUM_SEQS = 256  # sequences a CPU vLLM engine decodes at once in the job (vLLM's offline default)


@dataclass
class GenerateConfig(PlanConfig):
    kg: str = option(
        "demo", help="KG: 'demo', a KG directory (a path or a URI like s3://bucket/kg), or a Neo4j URI"
    )
    notes: str | None = option(
        None, help="real notes (JSONL/CSV/Parquet, train split only; a path or URI) for examples and counts"
    )
    text_column: str | None = option(None, help="text column of the notes (default: text, note or symptoms)")
    code_column: str = option("code", help="code column of the notes")
    test: list[str] = option(
        default_factory=list,
        help="test sets to keep clean (notes files, comma-separated; never the --notes file): notes that "
        "copy a test note are removed from the kept set and counted, and the card names the sets",
    )
    out: str | None = option(
        None, help="output run directory: a local path every node sees, or a URI (s3://bucket/path, gs://...)"
    )
    overwrite: bool = option(False, help="delete what the output directory holds and start afresh")
    model: str = option(
        None,
        help="model directory, packaged model name, or the served model's name (default, engines hf/vllm: "
        "the language's shipped generator, ru: gemma3-270m + medsyn's adapter; else smollm2-135m-instruct)",
    )
    engine: Literal["vllm", "hf", "openai", "dry-run"] = option(
        "vllm",
        help=f"generation engine: {', '.join(JOB_ENGINES)} (dry-run: no model, a text built from the "
        "symptoms, to measure the job itself; evaluate and finetune-data refuse its notes)",
    )
    adapter: str | None = option(
        None,
        help="engines hf/vllm: LoRA adapter directory (from `medsyn finetune`) or a shipped generator's "
        "name (gemma3-270m-ru)",
    )
    base_url: str | None = option(None, help="engine openai: base URL of the endpoint (or $OPENAI_BASE_URL)")
    api_key_env: str = option(
        "OPENAI_API_KEY", help="engine openai: environment variable holding the API key"
    )
    request_concurrency: int = option(8, help="engine openai: requests in flight per worker")
    temperature: float = option(
        None, help="sampling temperature, 0 = greedy (default: the generator's, else 0.8)"
    )
    top_p: float = option(None, help="nucleus sampling mass (default: the generator's, else 0.95)")
    max_tokens: int = option(None, help="most new tokens per note (default: the generator's, else 192)")
    repetition_penalty: float = option(
        None,
        help="divides the logits of tokens already in the prompt or the note, against loops (1.0 = off; "
        "default: the generator's, else 1.0)",
    )
    frequency_penalty: float = option(
        None,
        help="subtracted from a token's logit for each time it is already in the note (not the prompt), "
        "against loops; 0 = off (default: the generator's, else 0)",
    )
    guidance_scale: float = option(
        None,
        help="guided decoding (classifier-free guidance): each token scored u + g * (c - u) on "
        "log-probabilities, c under the note's prompt, u under its --negative-prompt; holds the notes to "
        "their code. 1 = off; engine hf (and openai, against medsyn's transformers Serve replicas) "
        "(default: the generator's with engine hf, else 1)",
    )
    negative_prompt: Literal["no_disease", "confuser"] = option(
        None,
        help="guided decoding's negative prompt: no_disease (the prompt without title, symptoms and "
        "example) or confuser (the prompt with the title of the frequent code the code's notes drift to; "
        "needs --notes; default: the generator's, else no_disease)",
    )
    stop: list[str] = option(default_factory=list, help="stop strings, comma-separated")
    batch_size: int = option(16, help="notes per generation batch")
    replicas: int = option(1, help="engine replicas (Ray actors; one GPU each where there are GPUs)")
    num_gpus: float | None = option(
        None, help="GPUs per replica (default: 1 with the gpu extra's CUDA vLLM installed, else 0)"
    )
    threads: int | None = option(
        None,
        help="engines hf/vllm on CPU: threads each replica computes on (default: the smallest node's "
        "cores / replicas)",
    )
    shard_rows: int = option(256, help="notes per output Parquet shard")
    copy_threshold: float = option(
        COPY_THRESHOLD, help="flag a note whose 5-gram containment in its example is >= this"
    )
    max_model_len: int = option(2048, help="engines hf/vllm: context length")
    ray_address: str | None = option(
        None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)"
    )
    merge_adapter: bool = option(
        True,
        help="engine vllm with --adapter: merge the adapter into the model once (cached) and run it through "
        "ray.data.llm without LoRA (vLLM's LoRA kernels cost 2-3x on CPUs); off: vLLM LoRA per request",
    )
    lease_s: float = option(
        120.0,
        help="the run directory's lease: a second live run on --out is refused; a killed run's lease "
        "expires this long after its last heartbeat (at once on the same host)",
    )
    quality: bool = option(
        True, help="compute the quality gates into summary.json when the run completes (`medsyn quality`)"
    )
    quota: int | None = option(
        None,
        help="kept notes per code: generate in rounds until each code has this many notes that pass the "
        "filters (with a non-uniform --allocation: quota x codes split by it); see --max-attempts-per-code, "
        "--max-notes, --max-rounds",
    )
    max_attempts_per_code: int | None = option(
        None, help="quota runs: most notes generated for one code over all rounds (default: 10 x its quota)"
    )
    max_notes: int | None = option(None, help="quota runs: most notes generated over all rounds")
    max_rounds: int = option(8, help="quota runs: most rounds")
    kept: bool = option(
        True,
        help="when the run completes, write OUT/kept/: the notes that pass the filters `medsyn evaluate` "
        "applies (the filter options below; real notes: --notes), for training and `medsyn export`",
    )
    filter: FilterConfig = option(
        default_factory=FilterConfig, help="the filters of the kept set (as in `medsyn evaluate`)"
    )
    verbose: bool = option(
        False,
        help="show Ray's, Ray Data's and the engines' logs on the console (default: in OUT/logs/ray.log, "
        "its path printed)",
    )

    templates: list[str] = option(
        default_factory=list, help="template names, mixed per row (default: the generator's, else paper_main)"
    )
    form: Literal["chat", "completion"] = option(
        None,
        help="prompt form: chat (messages) or completion (plain text) (default: the generator's, else chat)",
    )

    def __post_init__(self) -> None:
        """Fill the defaults that depend on the generator: with no --model, engines hf and vllm use the
        language's shipped generator (medsyn.generators) with its template, form and sampling settings."""
        from medsyn.generators import GENERATORS, generator_for

        check_choices(self)  # before the defaults that depend on the engine and language
        if self.engine == stages.DRY_RUN:
            self.model = self.model or stages.DRY_RUN
        generator = None
        if self.model is None and self.engine in ("hf", "vllm") and self.adapter not in (None, *GENERATORS):
            # An adapter of one's own: its base model is recorded beside it (check_adapter then checks the
            # weights' fingerprint); prompts and sampling are the shipped generator's where the base is its.
            self.model = _recorded_base(str(self.adapter))
            language_generator = generator_for(self.language)
            if language_generator is not None and language_generator.base_model == self.model:
                generator = language_generator
        elif self.model is None and self.engine in ("hf", "vllm"):
            generator = generator_for(self.language)
            if generator is not None and self.adapter is None:
                self.adapter = generator.name
            self.model = generator.base_model if generator is not None else DEFAULT_MODEL
        elif self.adapter in GENERATORS:
            generator = GENERATORS[self.adapter]
        if generator is not None and generator.language != self.language:
            raise ConfigError(
                f"the shipped generator {generator.name!r} writes {generator.language!r}, not "
                f"--language {self.language!r}: drop --adapter, or give --model for {self.language!r} notes"
            )
        if self.model is None:
            raise ConfigError(
                f"--model is required with engine {self.engine!r} (the served model's name)", option="model"
            )
        self.templates = self.templates or [generator.template if generator else "paper_main"]
        self.form = self.form or (generator.form if generator else "chat")
        if self.temperature is None:
            self.temperature = generator.temperature if generator else 0.8
        if self.top_p is None:
            self.top_p = generator.top_p if generator else 0.95
        if self.max_tokens is None:
            self.max_tokens = generator.max_tokens if generator else 192
        if self.repetition_penalty is None:
            self.repetition_penalty = generator.repetition_penalty if generator else 1.0
        if self.frequency_penalty is None:
            self.frequency_penalty = generator.frequency_penalty if generator else 0.0
        if self.opening_words is None:
            self.opening_words = generator.opening_words if generator else 0
        if self.guidance_scale is None:  # guided decoding runs on the hf engine only
            self.guidance_scale = generator.guidance_scale if generator and self.engine == "hf" else 1.0
        if self.negative_prompt is None:
            self.negative_prompt = generator.negative_prompt if generator else "no_disease"
        super().__post_init__()  # choices, ranges, templates
        for name in ("batch_size", "replicas", "shard_rows", "request_concurrency", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}", option=name)
        self.sampling()  # validates temperature, top_p, max_tokens, the penalties and the guidance
        if self.guidance_scale != 1.0 and self.engine not in ("hf", "openai"):
            raise ConfigError(
                f"--guidance-scale {self.guidance_scale} runs on engine hf (or openai against medsyn's "
                f"transformers Serve replicas), not {self.engine!r}: vLLM has no guided decoding; use "
                "--engine hf, or --guidance-scale 1",
                option="guidance_scale",
            )
        if self.guidance_scale != 1.0 and self.negative_prompt == "confuser":
            if not self.notes:
                raise ConfigError(
                    "--negative-prompt confuser picks each code's confuser among the codes with the most "
                    "real notes: give --notes, or use --negative-prompt no_disease",
                    option="negative_prompt",
                )
            from medsyn.prompts import get_template

            for name in self.templates:
                template = get_template(name, self.language, self.form)
                fallback = (
                    get_template(template.fallback, self.language, self.form) if template.fallback else None
                )
                untitled = [t.id for t in (template, fallback) if t is not None and "{title}" not in t.text]
                if untitled:
                    raise ConfigError(
                        f"--negative-prompt confuser swaps the disease title, and {', '.join(untitled)} has "
                        "none: use a template with the title (instruction_note_example, paper_main_title) or "
                        "--negative-prompt no_disease",
                        option="negative_prompt",
                    )

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            self.temperature,
            self.top_p,
            self.max_tokens,
            tuple(self.stop),
            None,
            repetition_penalty=self.repetition_penalty,
            frequency_penalty=self.frequency_penalty,
            guidance_scale=self.guidance_scale,
        )


def _recorded_base(adapter: str) -> str:
    """The base model an adapter directory records (medsyn_adapter.json, else adapter_config.json)."""
    from medsyn.models import adapter_base

    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"adapter {adapter!r} is not a LoRA adapter directory (no adapter_config.json): give an adapter "
            "directory from `medsyn finetune` (OUT/adapter) or a shipped generator",
            option="adapter",
        )
    base = adapter_base(path)
    if not base:
        raise ConfigError(f"adapter {adapter!r} records no base model: pass --model", option="model")
    return base


def _plan_config(config: GenerateConfig) -> PlanConfig:
    return PlanConfig(**{k: v for k, v in asdict(config).items() if k in PlanConfig.__dataclass_fields__})


def _validate(config: GenerateConfig) -> None:
    if config.out is None:
        raise ConfigError("--out is required: the output directory", option="out")


def prepare(config: GenerateConfig) -> Planner:
    """Read the KG and notes once and build the plan (no Ray needed)."""
    kg = open_kg(config.kg)
    notes = (
        load_notes(config.notes, text_column=config.text_column, code_column=config.code_column)
        if config.notes
        else None
    )
    planner = build_planner(kg, notes, _plan_config(config))
    if config.adapter:
        if config.engine not in ("hf", "vllm"):
            raise ConfigError(f"--adapter needs engine hf or vllm, not {config.engine!r}")
        check_adapter(config.adapter, config.model)
    return planner


def confuser_titles(config: GenerateConfig, planner: Planner) -> dict[str, str] | None:
    """code -> the title of its confuser (`medsyn.sampling.confusers`), where the run's guided decoding
    uses the confuser negative prompt; else None."""
    if config.guidance_scale == 1.0 or config.negative_prompt != "confuser":
        return None
    from medsyn.sampling.confusers import confusers

    assert config.notes is not None  # checked with the options
    kg = open_kg(config.kg)
    notes = load_notes(config.notes, text_column=config.text_column, code_column=config.code_column)
    codes = [c.code for c in planner.codes]
    picked = confusers(kg, [str(c) for c in notes["code"].to_pylist()], codes, language=config.language)
    return {code: kg.disease(other).title(config.language) or other for code, other in picked.items()}


def generation_settings(config: GenerateConfig) -> dict[str, Any]:
    """What a resumed run must share with the run it continues, besides the plan."""
    keys = (
        "model",
        "adapter",
        "engine",
        "temperature",
        "top_p",
        "max_tokens",
        "stop",
        "form",
        "copy_threshold",
    )
    settings = {k: getattr(config, k) for k in keys}
    # Absent when off, as in the runs made before these options existed.
    if config.repetition_penalty != 1.0:
        settings["repetition_penalty"] = config.repetition_penalty
    if config.frequency_penalty:
        settings["frequency_penalty"] = config.frequency_penalty
    if config.guidance_scale != 1.0:
        settings["guidance_scale"] = config.guidance_scale
        settings["negative_prompt"] = config.negative_prompt
    return settings


def run_info(planner: Planner, config: GenerateConfig) -> dict[str, Any]:
    """run.json: the plan's fingerprint and the settings a resumed run must share."""
    return json.loads(
        json.dumps(
            {
                "fingerprint": planner.fingerprint,
                "total": planner.total,
                "allocation": planner.allocation(),
                "skipped_codes": planner.skipped,
                "generation": generation_settings(config),
                "config": asdict(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            default=str,
        )
    )


def _gpus_per_replica(config: GenerateConfig) -> float:
    return config.num_gpus if config.num_gpus is not None else default_gpus()


def _generate_stage(ds: Any, config: GenerateConfig) -> Any:
    """Attach the generation stage: ray.data.llm's vLLM processor, or an actor pool of medsyn engines."""
    from ray.data import ActorPoolStrategy

    if config.engine == stages.DRY_RUN:
        return ds.map_batches(stages.dry_run_generate, batch_size=config.batch_size, batch_format="pyarrow")
    params = config.sampling()
    gpus = _gpus_per_replica(config)
    if config.engine == "vllm" and (not config.adapter or config.merge_adapter):
        merge = config.adapter if config.merge_adapter else None
        return _vllm_processor(config, params, gpus, model_on_every_node(config.model, merge))(ds)
    kwargs: dict[str, Any] = {"adapter": config.adapter} if config.adapter else {}
    if config.engine == "hf":
        kwargs["batch_size"] = config.batch_size
        if gpus == 0:
            kwargs["threads"] = cpu_threads(config)
    if config.engine == "openai":
        kwargs = {
            "base_url": config.base_url,
            "api_key_env": config.api_key_env,
            "concurrency": config.request_concurrency,
        }
    return ds.map_batches(
        stages.GenerateBatch,
        fn_constructor_args=(config.engine, config.model, params, config.form),
        fn_constructor_kwargs=kwargs,
        batch_size=config.batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=config.replicas),
        num_cpus=0 if config.engine == "openai" else 1,
        num_gpus=gpus if config.engine in ("hf", "vllm") else 0,
    )


def check_test_sets(test: list[str], notes: str | Path | None) -> None:
    """Each --test file exists and is not the --notes file (by path or by content)."""
    import hashlib

    notes_loc = Location.parse(notes, option="--notes") if notes else None
    notes_sha = hashlib.sha256(notes_loc.read_bytes()).hexdigest() if notes_loc else None
    for path in test:
        loc = Location.parse(path, option="--test").check(must_exist=True)
        same = notes_loc is not None and (
            loc.uri == notes_loc.uri or hashlib.sha256(loc.read_bytes()).hexdigest() == notes_sha
        )
        if same:
            raise ConfigError(
                f"--test {path!r} is the --notes file: the test set must be notes the generator never saw "
                "(give --notes the train split and --test the dev or test split)",
                option="test",
            )


def cpu_threads(config: GenerateConfig) -> int:
    """Threads each CPU replica computes on: --threads, else the smallest node's cores shared by the
    replicas (a Ray worker would otherwise get OMP_NUM_THREADS=1, one thread, whatever the node has)."""
    return config.threads or max(1, smallest_node_cores() // config.replicas)


def _local_model(model: str, adapter: str | None) -> str:
    """On a node: the model (merged with `adapter` when given) in this node's cache, made on first use."""
    return str(merged_model(model, adapter) if adapter else resolve_model(model))


def model_on_every_node(model: str, adapter: str | None = None) -> Path:
    """Convert a packaged model (and merge an adapter) into every node's own cache, where vLLM will load
    it: the driver's disk is not the workers'. Every node must find it at the same path."""
    paths = on_every_node(_local_model, model, adapter)
    if len(set(paths.values())) != 1:
        detail = ", ".join(f"{node}: {path}" for node, path in paths.items())
        raise ConfigError(
            f"model {model!r} lies at different paths on the nodes ({detail}): give every node the same "
            "MEDSYN_CACHE (or the same model directory)"
        )
    return Path(next(iter(paths.values())))


def _vllm_cpu_env(config: GenerateConfig) -> dict[str, str]:
    """The CPU stage's environment. vLLM's engine process (one worker: it runs the model itself, vLLM's
    `UniProcExecutor`, no third process) computes on the threads torch finds in OMP_NUM_THREADS at
    import, which it inherits from the stage's Ray worker: without it, one thread (measured on a 2-core
    node: one busy thread before, two after; 120 notes of the shipped generator in 398 s on one thread,
    289 s on two)."""
    from medsyn.engines.vllm_engine import cpu_env, omp_bind

    return {
        **cpu_env(omp_bind(node_cores())),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "OMP_NUM_THREADS": str(cpu_threads(config)),
    }


def _vllm_processor(config: GenerateConfig, params: SamplingParams, gpus: float, model_path: Path) -> Any:
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from medsyn.engines.vllm_engine import engine_kwargs, sampling_kwargs

    kwargs = engine_kwargs(model_path, adapter=False, gpu=gpus > 0, max_model_len=config.max_model_len)
    kwargs.pop("model")
    concurrent_batches = 8  # ray.data.llm's default
    if gpus == 0:
        # vLLM's offline default on the CPU (ray.data.llm's engine context would get 128): a CPU step costs
        # little more for twice the sequences (1,024 notes: 0.63 of one offline call with 128). Twice that
        # in flight, so that the batches still arriving keep the engine full.
        kwargs["max_num_seqs"] = CPU_MAX_NUM_SEQS
        concurrent_batches = max(8, math.ceil(2 * CPU_MAX_NUM_SEQS / config.batch_size))
    processor_config = vLLMEngineProcessorConfig(
        model_source=str(model_path),
        engine_kwargs=kwargs,
        batch_size=config.batch_size,
        max_concurrent_batches=concurrent_batches,
        concurrency=config.replicas,
        should_continue_on_error=True,
        chat_template_stage=config.form == "chat",
        # vLLM tokenizes prompts and detokenizes outputs itself: two actors fewer to start and feed.
        tokenize_stage=False,
        detokenize_stage=False,
        runtime_env={"env_vars": _vllm_cpu_env(config)} if gpus == 0 else None,
        placement_group_config={"bundles": [{"CPU": 1}]} if gpus == 0 else None,
    )

    def preprocess(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "sampling_params": sampling_kwargs(params, seed=int(row["seed"]))}

    return build_processor(processor_config, preprocess=preprocess, postprocess=vllm_output_row)


def vllm_output_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row out of ray.data.llm's vLLM stage -> the job's columns (a failed row keeps its error)."""
    error = row.get("__inference_error__") or None
    text = (row.get("generated_text") or "").strip()
    return {
        **{k: v for k, v in row.items() if not k.startswith("__")},
        "text": None if error else with_opening(row.get("opening"), text),
        "error": error,
        "prompt_tokens": row.get("num_input_tokens"),
        "completion_tokens": row.get("num_generated_tokens"),
        "latency_s": row.get("time_taken_llm"),
        "finish_reason": None,
    }


def run_generate(config: GenerateConfig, *, progress: bool = True) -> dict[str, Any]:
    """Plan, generate, score and write the notes of `config` as a Ray Data job; rerun to resume.

    Args:
        config: what to generate and how (codes, budget, engine, model, output directory, ...).
        progress: show a progress bar of finished notes.

    Returns:
        The run's summary, also written to OUT/summary.json: notes written, failed, missing, tokens,
        speed of this run, skipped codes and the quality gates.

    Raises:
        ConfigError: a bad option, e.g. no --out, an unknown code or a model that does not exist.
        DataError: the notes or KG cannot be read.
        ServiceError: the Ray cluster or the OpenAI-compatible endpoint does not answer.

    Examples:
        >>> from medsyn.pipeline import GenerateConfig, run_generate
        >>> summary = run_generate(GenerateConfig(codes=["J06", "M54"], n=4, engine="dry-run",
        ...                                       out="/tmp/medsyn-notes"), progress=False)
        >>> summary["notes"]
        4
    """
    _validate(config)
    assert config.out is not None
    if config.quota is not None:
        from medsyn.pipeline.quota import run_quota

        return run_quota(config, progress=progress)
    out = Location.parse(config.out, option="--out").check()
    if config.notes:
        Location.parse(config.notes, option="--notes").check(must_exist=True)
    check_test_sets(config.test, config.notes)
    planner = prepare(config)
    if config.engine in ("vllm", "hf"):
        check_model(config.model)  # fail fast on a missing model, before any Ray work
    elif config.engine == "openai":
        from medsyn.engines.openai_engine import OpenAIEngine

        OpenAIEngine(config.model, base_url=config.base_url, api_key_env=config.api_key_env).close()
    run = RunDir(out)
    with run.lease(config.lease_s):
        return _run(run, planner, config, progress)


def _run(run: RunDir, planner: Planner, config: GenerateConfig, progress: bool) -> dict[str, Any]:
    todo = run.open(run_info(planner, config), overwrite=config.overwrite)
    start = time.perf_counter()
    totals: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:  # the console's log handlers, restored at the end
        if len(todo):
            import ray
            from ray.data import DataContext
            from tqdm import tqdm

            log_file = None if config.verbose else run_log_file(run)
            stack.enter_context(logs_to_file(log_file))
            init_ray(config.ray_address, log_to_driver=config.verbose)
            if progress and log_file:
                print(f"Ray's logs: {log_file} (--verbose shows them here)", file=sys.stderr)
            check_output(run.out)
            if config.engine in ("vllm", "hf"):
                check_gpus(
                    _gpus_per_replica(config),
                    what=f"the generation job's {config.engine} replicas",
                    fix="pass --num-gpus 0 to generate on CPUs",
                )
            DataContext.get_current().enable_progress_bars = False
            provenance = {
                "model": f"{config.model}+{config.adapter}" if config.adapter else config.model,
                "engine": config.engine,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "max_tokens": config.max_tokens,
            }
            # A shard is written (and the progress bar moves) when its notes are done: a run gets at least
            # 8 shards of a generation batch or more, and a small run at least 4, its batches cut to fit, so
            # that the bar moves as its notes come (8 notes: 4 batches of 2).
            todo_n = len(todo)
            shard_rows = min(config.shard_rows, max(min(config.batch_size, -(-todo_n // 4)), -(-todo_n // 8)))
            stage_config = replace(config, batch_size=min(config.batch_size, shard_rows))
            # one block per shard, no shuffle
            blocks = np.array_split(todo, max(1, -(-todo_n // shard_rows)))
            ds = ray.data.from_numpy(blocks).rename_columns({"data": "row"})
            plan = partial(
                stages.plan_and_prompt,
                planner=ray.put(planner),  # fetched once per worker, not inlined in each actor's arguments
                with_messages=config.engine == "vllm",
                negative=config.negative_prompt if config.guidance_scale != 1.0 else None,
                confuser_titles=confuser_titles(config, planner),
            )
            ds = ds.map_batches(
                plan,
                batch_size=shard_rows,
                batch_format="pyarrow",
            )
            ds = _generate_stage(ds, stage_config)
            ds = ds.map_batches(
                partial(stages.score, copy_threshold=config.copy_threshold),
                batch_size=shard_rows,
                batch_format="pyarrow",
            )
            ds = ds.map_batches(
                partial(stages.write_shard, shards=run.shards, provenance=provenance),
                batch_size=shard_rows,
                batch_format="pyarrow",
            )
            with tqdm(total=len(todo), unit="note", disable=not progress, desc="generate") as bar:
                for batch in ds.iter_batches(batch_size=None, batch_format="default"):
                    for i in range(len(batch["rows"])):
                        totals["rows"] += int(batch["rows"][i])
                        totals["failed"] += int(batch["failed"][i])
                        totals["completion_tokens"] += int(batch["completion_tokens"][i])
                        totals["prompt_tokens"] += int(batch["prompt_tokens"][i])
                        kinds.update(list(batch["error_kinds"][i]))
                        bar.update(int(batch["rows"][i]))
    seconds = time.perf_counter() - start

    def gates() -> dict[str, Any]:
        from medsyn.quality.gates import reference_for, run_gates

        notes = str(config.notes) if config.notes else None
        reference = reference_for(
            notes, config.kg, config.language, text_column=config.text_column, code_column=config.code_column
        )
        return run_gates(run.out.uri, reference)

    kept_manifest: dict[str, Any] = {}

    def kept() -> dict[str, Any]:
        manifest = write_kept(
            run,
            notes=str(config.notes) if config.notes else None,
            test=list(config.test),
            kg=config.kg,
            language=config.language,
            filters=config.filter,
            text_column=config.text_column,
            code_column=config.code_column,
        )
        kept_manifest.update(manifest)
        return {"notes": manifest["notes"], "rows": manifest["rows"], "path": run.out.join(KEPT).uri}

    def card(summary: dict[str, Any]) -> None:
        write_card(run, build_card(config, summary, kept_manifest or None))

    return finish_run(
        run,
        planner,
        seconds,
        totals,
        kinds,
        quality=gates if config.quality else None,
        kept=kept if config.kept and config.engine != stages.DRY_RUN else None,
        card=card,
    )


def finish_run(
    run: RunDir,
    planner: Planner,
    seconds: float,
    totals: Counter[str],
    kinds: Counter[str],
    *,
    quality: Callable[[], dict[str, Any]] | None = None,
    kept: Callable[[], dict[str, Any]] | None = None,
    card: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Keep one copy of each row, check every planned row is there, write the kept set, the quality
    gates and the dataset card, then summary.json (last: the run's completion marker)."""
    summary = run.finish(planner.total)
    summary["this_run"] = {
        "notes": totals["rows"],
        "failed": totals["failed"],
        "seconds": round(seconds, 2),
        "notes_per_s": round(totals["rows"] / seconds, 3) if seconds > 0 else None,
        "tokens_per_s": round(totals["completion_tokens"] / seconds, 1) if seconds > 0 else None,
        "failures_by_reason": dict(kinds),
    }
    summary["skipped_codes"] = planner.skipped
    if run.complete(summary):
        if kept is not None:
            summary["kept"] = kept()
        if quality is not None:
            summary["quality"] = quality()
        if card is not None:
            card(summary)
        run.write_summary(summary)
    return summary
