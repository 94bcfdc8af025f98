"""ray.serve.llm start-up hook, run by each generator replica on its own node before the engine starts:
a packaged model's name becomes this node's converted copy (converted into the node's cache on first
use), and the model-download step is skipped for a model already on the node's disk.

By default every LLMServer replica first runs a Ray task on its node to download the model files; for a
local model directory that task only imports vLLM and transformers once more (~45 s on 2 CPU cores).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medsyn.serving.ray_llm import CallbackBase


class LocalModelCallback(CallbackBase):
    async def on_before_node_init(self) -> None:
        import asyncio

        from medsyn.models import PACKAGED, resolve_model

        # The OpenMP binding of vLLM on the CPU: this replica's node's cores (the app may have been built
        # on a machine of another size); a value the user set wins.
        if os.environ.get("MEDSYN_OMP_BIND_FROM_NODE") == "1":
            from medsyn.engines.vllm_engine import omp_bind

            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = omp_bind(os.cpu_count())
        loading: Any = self.llm_config.model_loading_config
        source = getattr(loading, "model_source", None)
        if isinstance(source, str) and source in PACKAGED:
            path = await asyncio.to_thread(resolve_model, source)  # this node's cache
            loading.model_source = source = str(path)
            self.llm_config._engine_config = None  # rebuilt from the local path
        if isinstance(source, str) and Path(source).is_dir():
            self.ctx.run_init_node = False
