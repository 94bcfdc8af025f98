"""Checkpoints and the exported adapter: find the latest complete checkpoint on any storage, merge an
adapter into its base model."""

from __future__ import annotations

import json
from pathlib import Path

from medsyn.finetune.config import ADAPTER_META
from medsyn.storage import Location


def latest_checkpoint(storage: Location | Path | str, name: str) -> Location | None:
    """The complete checkpoint directory with the highest step under storage/name (None if there is
    none), on any storage. A checkpoint cut short by a crash (a file missing or shorter than state.json
    lists) is skipped."""
    import pyarrow.fs as pafs

    root = Location.parse(storage).join(name)
    selector = pafs.FileSelector(root.path, recursive=True, allow_not_found=True)
    sizes = {i.path: i.size for i in root.fs.get_file_info(selector) if i.type == pafs.FileType.File}
    best: tuple[int, str] | None = None
    for path in sizes:
        if not path.endswith("/state.json"):
            continue
        directory = path[: -len("/state.json")]
        try:
            meta = json.loads(Location(path, root.fs, path, root.option).read_text())
        except (ValueError, OSError):
            continue
        step, files = meta["step"], meta.get("files", {})
        if all(sizes.get(f"{directory}/{f}") == size for f, size in files.items()) and (
            best is None or step > best[0]
        ):
            best = (step, directory)
    if best is None:
        return None
    uri = best[1] if root.is_local else root.uri[: len(root.uri) - len(root.path)] + best[1]
    return Location(uri, root.fs, best[1], root.option)


def merge_adapter(adapter: Path, out: Path) -> Path:
    """The base model with the adapter merged in, as a plain model directory (vLLM and hf load it)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medsyn.models import resolve_model

    meta = json.loads((adapter / ADAPTER_META).read_text())
    base_path = resolve_model(meta["base_model"])
    base = AutoModelForCausalLM.from_pretrained(base_path)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_path).save_pretrained(out)
    return out
