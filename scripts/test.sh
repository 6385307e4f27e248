#!/usr/bin/env bash
# The whole test suite: lint, strict types, unit/property/scenario/integration/e2e tests, and
# the notebooks. Creates and fills .venv first (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider tests
.venv/bin/pytest -q -p no:cacheprovider --nbmake notebooks
