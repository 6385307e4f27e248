"""Regenerate the bundled spoken questions with Piper (the pinned en_US "joe" voice).

``python examples/audio/make_audio.py`` writes 16 kHz mono 16-bit WAVs beside this script, each
with a short lead of silence (a microphone opens before the user speaks); the console's
``--input`` plays them as the user, and the offline end-to-end tests feed them to a session:

* ``question.wav``: "What is the weather in Tokyo?" (the README's console run, the tool-call test)
* ``hello.wav``: "Hello, what can you do?" (a second question, used for barge-in)

Needs the ``local`` extra. The output is deterministic for a given Piper version and voice.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
RATE = 16000
LEAD = 0.3  # seconds of silence before the words
QUESTIONS = {
    "question.wav": "What is the weather in Tokyo?",
    "hello.wav": "Hello, what can you do?",
}


async def speak(text: str) -> tuple[np.ndarray, int]:
    from flowagents.plugins.piper import PiperTTS

    tts = PiperTTS()
    try:
        chunks = [c.frame.data async for c in tts.synthesize(text)]
    finally:
        await tts.aclose()
    return np.concatenate(chunks), tts.sample_rate


def to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Resample with LiveKit's sox resampler (what the voice graph uses)."""
    from livekit import rtc

    resampler = rtc.AudioResampler(rate, RATE, num_channels=1,
                                   quality=rtc.AudioResamplerQuality.HIGH)
    frames = resampler.push(rtc.AudioFrame(pcm.tobytes(), rate, 1, pcm.size))
    frames += resampler.flush()
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def main() -> None:
    for name, text in QUESTIONS.items():
        pcm, rate = asyncio.run(speak(text))
        audio = np.concatenate([np.zeros(round(LEAD * RATE), np.int16), to_16k(pcm, rate)])
        sf.write(HERE / name, audio, RATE, subtype="PCM_16")
        print(f"{name}: {audio.size / RATE:.2f} s, {text!r}")


if __name__ == "__main__":
    main()
