"""Build medsyn's Ray Serve application: vLLM generator replicas behind the OpenAI-compatible ingress.

    medsyn serve --model smollm2-135m-instruct --kg demo              # local Ray, http://127.0.0.1:8000/v1
    medsyn serve --engine hf --model DIR                              # transformers replicas instead
    serve run serve/config.yaml                                       # or `serve deploy` on a cluster
    serve run medsyn.serving.app:build_app model=/models/llama kg=bolt://neo4j:7687

`build_app(args)` takes ServeConfig fields as a dict (Serve's `args:`) or a ServeConfig.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from medsyn.config import resolve
from medsyn.serving.auth import BearerAuth, install_error_handlers, key_digest
from medsyn.serving.config import ServeConfig

ENDPOINTS = {
    "models": lambda app: app.get("/v1/models"),
    "model_data": lambda app: app.get("/v1/models/{model:path}"),
    "completions": lambda app: app.post("/v1/completions"),
    "chat": lambda app: app.post("/v1/chat/completions"),
    "notes": lambda app: app.post("/v1/notes"),
}


def _gpus(config: ServeConfig) -> float:
    from medsyn.ray_env import default_gpus

    return config.num_gpus if config.num_gpus is not None else default_gpus()


def _check_gpus(gpus: float) -> None:
    """Where the app is built on a running Ray (serve deploy, medsyn serve): refuse replicas that ask for
    GPUs the cluster cannot give, instead of a deploy that waits forever."""
    import ray

    from medsyn.gpu_check import check_gpus

    if ray.is_initialized():
        check_gpus(gpus, what="the Serve app's generator replicas", fix="set num_gpus: 0 in the Serve config")


def _replica_env() -> dict[str, str]:
    """vLLM's CPU environment for the replicas; the OpenMP binding is left to each replica's node (set by
    medsyn.serving.callbacks) unless the user set VLLM_CPU_OMP_THREADS_BIND."""
    import os

    from medsyn.engines.vllm_engine import cpu_env

    env = cpu_env()
    if "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
        env["MEDSYN_OMP_BIND_FROM_NODE"] = "1"
    return env


def llm_config(config: ServeConfig, adapters: dict[str, str]) -> Any:
    """The ray.serve.llm LLMConfig of the generator replicas (`adapters`: parse_adapters' {name: dir})."""
    from ray.serve.llm import LLMConfig

    from medsyn.engines.vllm_engine import engine_kwargs
    from medsyn.models import check_model

    source = check_model(config.model)  # a packaged name is resolved by each replica, on its node
    gpus = _gpus(config)
    _check_gpus(gpus)
    if config.engine == "hf":
        kwargs: dict[str, Any] = {"max_model_len": config.max_model_len}
    else:
        kwargs = engine_kwargs(
            Path(source), adapter=bool(adapters), gpu=gpus > 0, max_model_len=config.max_model_len
        )
        kwargs.pop("model")
        if adapters:
            kwargs.update(max_lora_rank=config.max_lora_rank, max_loras=min(len(adapters), 4))
    deployment = {
        "autoscaling_config": {
            "min_replicas": config.min_replicas,
            "max_replicas": config.max_replicas,
            "target_ongoing_requests": config.target_ongoing_requests,
        },
        "max_ongoing_requests": config.max_ongoing_requests,
        "graceful_shutdown_timeout_s": config.graceful_shutdown_timeout_s,
        "health_check_period_s": config.health_check_period_s,
        # ray.serve.llm reserves the replica actor's own CPUs (default 1) on top of the engine's bundle;
        # the engine runs in (or beside) that actor, so `replica_cpus` alone is what a replica reserves.
        "ray_actor_options": {"num_cpus": 0},
    }
    extra: dict[str, Any] = {}
    if gpus == 0:
        extra = {
            "accelerator_config": {"kind": "cpu"},
            "placement_group_config": {"bundles": [{"CPU": config.replica_cpus}]},
            "runtime_env": {"env_vars": _replica_env()},
        }
    extra["callback_config"] = {"callback_class": "medsyn.serving.callbacks.LocalModelCallback"}
    if adapters:
        extra["lora_config"] = {"max_num_adapters_per_replica": len(adapters)}
    return LLMConfig(
        model_loading_config={"model_id": config.served_name, "model_source": source},
        engine_kwargs=kwargs,
        deployment_config=deployment,
        **extra,
    )


def build_ingress(
    config: ServeConfig,
    llm_deployments: dict[str, Any],
    *,
    model_source: str = "",
    adapters: dict[str, str] | None = None,
) -> Any:
    """The ingress deployment (auth, limits, /v1/notes) bound to generator deployments or their handles.

    Bound to the handles of an app that runs already, it adds a second front door (say, without auth or
    with other limits) to the same generator replicas.
    """
    from ray import serve
    from ray.serve.llm.ingress import make_fastapi_ingress

    from medsyn.serving.ingress import MedsynIngress
    from medsyn.serving.ray_llm import ModelCard, init_fastapi

    fastapi_app = init_fastapi()  # ray.serve.llm's app: CORS, request ids, metrics, error middleware
    install_error_handlers(fastapi_app)
    fastapi_app.add_middleware(
        BearerAuth, key_digest=key_digest(config.auth, config.api_key_env, config.api_key_file)
    )
    ingress_cls = make_fastapi_ingress(MedsynIngress, endpoint_map=ENDPOINTS, app=fastapi_app)
    options = MedsynIngress.get_deployment_options()
    options.update(
        max_ongoing_requests=config.max_ongoing_requests,
        graceful_shutdown_timeout_s=config.graceful_shutdown_timeout_s,
        health_check_period_s=config.health_check_period_s,
        ray_actor_options={"num_cpus": 0.5},
    )
    cards = {
        name: ModelCard(
            id=name,
            object="model",
            owned_by="medsyn",
            permission=[],
            metadata={"model_source": model_source, "max_model_len": config.max_model_len},
        )
        for name in llm_deployments
    }
    deployment: Any = serve.deployment(ingress_cls, name="MedsynIngress", **options)
    return deployment.bind(
        llm_deployments=llm_deployments, model_cards=cards, settings=asdict(config), adapters=adapters or {}
    )


def build_app(args: dict[str, Any] | ServeConfig | None = None) -> Any:
    """The whole Serve application: generator replicas (ray.serve.llm LLMServer on vLLM, or on
    transformers with `engine: hf`) behind the OpenAI-compatible ingress (/v1/models, completions,
    chat/completions, notes). Also the import path of `serve run` / `serve deploy` configs.

    Args:
        args: a ServeConfig, or its options as a mapping (a Serve config's `args:`); None: defaults.

    Returns:
        The bound application, for `serve.run` or `serve deploy`.

    Raises:
        ConfigError: a bad option, e.g. an adapter of another base model, or auth on without a key.

    Examples:
        >>> from ray import serve
        >>> from medsyn.serving.app import build_app
        >>> serve.run(build_app({"engine": "hf", "replicas": 1}), route_prefix="/")  # doctest: +SKIP
    """
    from ray.serve.llm import build_llm_deployment

    from medsyn.serving.adapters import LocalAdapterLoader, parse_adapters

    config = args if isinstance(args, ServeConfig) else resolve(ServeConfig, yaml_values=dict(args or {}))
    adapters = parse_adapters(config.adapters, config.model)
    llm = llm_config(config, adapters)
    source = str(llm.model_loading_config.model_source)
    bind: dict[str, Any] = (
        {"model_downloader": partial(LocalAdapterLoader, adapters=adapters)} if adapters else {}
    )
    if config.engine == "hf":
        from medsyn.serving.transformers_engine import TransformersEngine

        bind["engine_cls"] = TransformersEngine
    else:
        from medsyn.serving.vllm_cpu import CPUVLLMEngine

        bind["engine_cls"] = CPUVLLMEngine  # ray.serve.llm's engine; on a CPU, no third process
    generator = build_llm_deployment(llm, bind_kwargs=bind)
    return build_ingress(config, {config.served_name: generator}, model_source=source, adapters=adapters)
