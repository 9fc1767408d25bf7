#!/usr/bin/env bash
# Set up .venv with the test extras, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check edge_moma tests scripts
.venv/bin/mypy edge_moma
exec .venv/bin/python -m pytest "$@"
