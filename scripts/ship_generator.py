"""Copy a trained adapter into medsyn/generators/NAME (what ships with medsyn), smaller and portable.

    .venv/bin/python scripts/ship_generator.py runs/generator-ru/adapter gemma3-270m-ru

Weights are stored as float16 (half the size; the engines cast them to the model's dtype when loading),
and adapter_config.json names the packaged base model instead of the trainer's local path.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", type=Path, help="OUT/adapter of `medsyn finetune`")
    parser.add_argument("name", help="generator name (a key of medsyn.generators.GENERATORS)")
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file, save_file

    meta = json.loads((args.adapter / "medsyn_adapter.json").read_text(encoding="utf-8"))
    if not meta.get("complete"):
        raise SystemExit(
            f"{args.adapter} is from an unfinished run (step {meta['step']}/{meta['total_steps']})"
        )
    dest = Path(__file__).resolve().parents[1] / "medsyn" / "generators" / args.name
    tmp = dest.with_name(f".{args.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = load_file(str(args.adapter / "adapter_model.safetensors"))
    save_file(
        {k: v.to(torch.float16).contiguous() for k, v in weights.items()},
        str(tmp / "adapter_model.safetensors"),
    )
    config = json.loads((args.adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = meta["base_model"]
    (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    meta.pop("base_model_path", None)  # a path on the training machine: the name is what counts
    meta["shipped"] = {"weights_dtype": "float16"}
    (tmp / "medsyn_adapter.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"shipped {args.adapter} -> {dest} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
