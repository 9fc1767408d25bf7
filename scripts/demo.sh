#!/usr/bin/env bash
# Set up .venv and run the main job on the embedded default config, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/edge-moma demo "$@"
