#!/usr/bin/env bash
# The whole test suite: lint, strict types, unit/property/scenario/integration/e2e tests, and
# the notebooks. Creates and fills .venv first (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/mypy
# The `livekit` tests run against a real LiveKit server: built from its Go module the first
# time (cached per version), started on loopback for this run, stopped on exit. Without Go they
# skip (saying so), except in CI, where a server that does not start fails the run.
# One of them runs two server nodes sharing a Redis: Debian's redis-server.
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    $sudo apt-get install -y -q redis-server >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 \
             && $sudo apt-get install -y -q redis-server >/dev/null 2>&1; } \
        || echo "test.sh: could not install redis-server" >&2
fi
lk_state="$(mktemp -d -t flowagents-livekit.XXXXXX)"
trap 'bash scripts/livekit-server.sh stop --state "$lk_state" 2>/dev/null || true' EXIT
lk_status=0
lk_env="$(bash scripts/livekit-server.sh start --state "$lk_state")" || lk_status=$?
if [ "$lk_status" -eq 0 ]; then
    eval "$lk_env"
elif [ "$lk_status" -eq 3 ] && [ -z "${CI:-}" ]; then
    echo "test.sh: no Go toolchain, the livekit tests will skip" >&2
else
    exit "$lk_status"
fi
.venv/bin/pytest -q -p no:cacheprovider tests
.venv/bin/pytest -q -p no:cacheprovider --nbmake notebooks
