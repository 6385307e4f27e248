#!/usr/bin/env bash
# What bench/bench_offline_eval.py and bench/bench_offline_latency.py need beyond scripts/setup.sh:
# Debian's espeak-ng, the second family of synthetic voices (without it the benches use Piper's
# voices only and say so). The tests do not need it.
set -euo pipefail
if ! command -v espeak-ng >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq espeak-ng >/dev/null
fi
