#!/usr/bin/env bash
# Creates .venv (if absent) and installs flowagents with the offline models and dev tools.
# llama-cpp-python compiles from source once (about 5 minutes on 2 cores); pip keeps the built
# wheel in its cache, so later installs take seconds. The build targets a portable x86-64 CPU
# (no -march=native), so the cached wheel runs on other machines of the same kind.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[local,dev,notebooks]"
# The notebooks run on this environment's kernel.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
# The live graph view's browser test (tests/worker/test_inspect_page*.py) runs Debian's headless
# Chromium; install it when it is missing and apt is there (as root, or through sudo).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null 2>&1 || {
        $SUDO apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
    }
fi
