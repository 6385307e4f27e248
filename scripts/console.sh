#!/usr/bin/env bash
# The README's main job: install (scripts/setup.sh: .venv with the local, dev and notebooks
# extras), then talk to examples/weather.py offline: the agent greets, the bundled spoken question
# (examples/audio/question.wav: "What is the weather in Tokyo?") is played as the user in real
# time, the agent calls its weather tool (the console prints the call and its result) and answers
# from it; the agent's audio is written to reply.wav, and the transcript and per-turn latency
# breakdown are printed.
# Extra arguments go to `flowagents console` (for example --timeout 300).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/flowagents console examples/weather.py \
    --input examples/audio/question.wav --output reply.wav "$@"
