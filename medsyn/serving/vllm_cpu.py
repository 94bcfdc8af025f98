"""vLLM generator replicas for ray.serve.llm that run the model inside vLLM's engine process on the CPU.

ray.serve.llm starts vLLM on the CPU with the multiprocessing executor: the replica (vLLM's `AsyncLLM`
front end), vLLM's engine-core process (the scheduler) and a third process for the model, which the
scheduler waits on. With one worker that third process buys nothing and costs time under concurrency:
with the engine on one thread both ways, Serve's throughput at 8 and 32 clients was 1.26 and 2.96 req/s
with it and 1.77 and 4.09 req/s with the model in the engine-core process (vLLM's `UniProcExecutor`,
what ray.data.llm uses for one worker); one request at a time it costs ~3% (`bench_serve`, and
`benchmarks/results/bench-2026-12-03/vllm_modes.py`).

`CPUVLLMEngine` is ray.serve.llm's own vLLM engine with that one change, made only on the CPU and with
one worker (the engine process gets the OpenMP threads and core binding the worker would have had);
GPUs and tensor- or pipeline-parallel engines keep ray.serve.llm's executor.
"""

from __future__ import annotations

from typing import Any

from medsyn.serving.ray_llm import VLLMEngine


def run_model_in_engine_process(vllm_config: Any) -> bool:
    """Switch a one-worker CPU engine from the multiprocessing executor to vLLM's in-process one.

    Returns whether it switched (False for GPUs, several workers, or another executor)."""
    parallel = vllm_config.parallel_config
    if (
        vllm_config.device_config.device_type == "cpu"
        and parallel.world_size == 1
        and parallel.distributed_executor_backend == "mp"
    ):
        parallel.distributed_executor_backend = "uni"
        return True
    return False


class CPUVLLMEngine(VLLMEngine):
    """ray.serve.llm's `VLLMEngine`, with the model run in vLLM's engine process on a one-worker CPU
    replica (see the module docstring)."""

    def _start_async_llm_engine(
        self, vllm_engine_args: Any, vllm_engine_config: Any, placement_group: Any
    ) -> Any:
        if not run_model_in_engine_process(vllm_engine_config):
            return super()._start_async_llm_engine(vllm_engine_args, vllm_engine_config, placement_group)
        from vllm.utils.ompmultiprocessing import OMPProcessManager

        # The engine process gets the OpenMP threads and binding vLLM would have given the worker
        # (VLLM_CPU_OMP_THREADS_BIND); without them it would compute on Ray's OMP_NUM_THREADS=1.
        with OMPProcessManager(vllm_engine_config).configure_omp_envs(rank=0, local_rank=0):
            return super()._start_async_llm_engine(vllm_engine_args, vllm_engine_config, placement_group)
