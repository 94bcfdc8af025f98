"""The CPU executor switch of medsyn's Serve vLLM engine, on real vLLM configs of the packaged model."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsyn.engines.vllm_engine import engine_kwargs


def _vllm_config(model: Path, backend: str, **extra: int):  # type: ignore[no-untyped-def]
    from vllm.engine.arg_utils import AsyncEngineArgs

    kwargs = engine_kwargs(model, adapter=False, gpu=False)
    return AsyncEngineArgs(**kwargs, distributed_executor_backend=backend, **extra).create_engine_config()


@pytest.mark.integration
def test_one_cpu_worker_runs_in_the_engine_process(default_model: Path) -> None:
    from medsyn.serving.vllm_cpu import run_model_in_engine_process

    config = _vllm_config(default_model, "mp")  # what ray.serve.llm asks for on the CPU
    assert config.parallel_config.distributed_executor_backend == "mp"
    assert run_model_in_engine_process(config)
    assert config.parallel_config.distributed_executor_backend == "uni"
    from vllm.v1.executor.abstract import Executor
    from vllm.v1.executor.uniproc_executor import UniProcExecutor

    assert Executor.get_class(config) is UniProcExecutor
    # Another executor (here the in-process one already) is left as it is.
    assert not run_model_in_engine_process(config)


@pytest.mark.integration
def test_several_workers_keep_their_executor(default_model: Path) -> None:
    from medsyn.serving.vllm_cpu import run_model_in_engine_process

    config = _vllm_config(default_model, "mp", pipeline_parallel_size=2)
    assert not run_model_in_engine_process(config)
    assert config.parallel_config.distributed_executor_backend == "mp"
