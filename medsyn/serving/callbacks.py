"""ray.serve.llm start-up hook: skip the model-download step for a model already on the node's disk.

By default every LLMServer replica first runs a Ray task on its node to download the model files; for a
local model directory that task only imports vLLM and transformers once more (~45 s on 2 CPU cores).
"""

from __future__ import annotations

from pathlib import Path

from medsyn.serving.ray_llm import CallbackBase


class LocalModelCallback(CallbackBase):
    async def on_before_node_init(self) -> None:
        source = getattr(self.llm_config.model_loading_config, "model_source", None)
        if isinstance(source, str) and Path(source).is_dir():
            self.ctx.run_init_node = False
