"""LoRA adapters from local directories, served per request as `<model_id>:<adapter name>`.

ray.serve.llm loads per-request adapters only from cloud storage (s3://, gs://, ...). medsyn's adapters
are directories (`medsyn finetune` writes OUT/adapter) on a path every node sees, so the generator
replicas get a loader that hands vLLM the directory itself; Serve's model multiplexing still routes a
request for an adapter to a replica that has it loaded.

    medsyn serve --adapters notes=runs/ft/adapter
    client.chat.completions.create(model="smollm2-135m-instruct:notes", messages=[...])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medsyn.errors import ConfigError
from medsyn.models import check_adapter
from medsyn.serving.ray_llm import DiskMultiplexConfig, LoraModelLoader, global_id_manager


def parse_adapters(entries: list[str], model_path: Path | str) -> dict[str, str]:
    """`NAME=DIR` (or `DIR`: named after the directory, or its parent's name for `.../adapter`) ->
    {name: absolute dir}; every adapter is checked against the served model."""
    adapters: dict[str, str] = {}
    for entry in entries:
        name, sep, directory = entry.partition("=")
        if not sep:
            directory = name
            path = Path(directory).resolve()
            name = path.parent.name if path.name == "adapter" else path.name
        if not name or ":" in name or "/" in name:
            raise ConfigError(
                f"adapter name {name!r} (from {entry!r}) is not valid: use letters, digits, - or _"
            )
        if name in adapters:
            raise ConfigError(f"adapter name {name!r} is given twice; name them with NAME=DIR")
        adapters[name] = str(check_adapter(directory, model_path).resolve())
    return adapters


class LocalAdapterLoader(LoraModelLoader):
    """Hands vLLM an adapter's local directory (construct with functools.partial(..., adapters=...))."""

    def __init__(self, *, adapters: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapters = adapters

    async def load_model_from_config(self, lora_model_id: str, llm_config: Any) -> DiskMultiplexConfig:
        if lora_model_id not in self.disk_cache:
            name = lora_model_id.split(":", 1)[1]
            if name not in self.adapters:
                raise ValueError(f"unknown adapter {name!r}; this server has {sorted(self.adapters)}")
            self.disk_cache[lora_model_id] = DiskMultiplexConfig(
                model_id=lora_model_id,
                max_total_tokens=None,
                local_path=self.adapters[name],
                lora_assigned_int_id=global_id_manager.next(),
            )
        return self.disk_cache[lora_model_id]
