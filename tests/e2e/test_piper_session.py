"""Piper's ONNX session is built by the provider: its threads sleep when idle (they would
otherwise spin and slow the LLM and Piper itself when both run), and it still speaks."""

from __future__ import annotations

import numpy as np
import pytest

from flowagents.plugins.piper import PiperTTS

pytestmark = pytest.mark.e2e


async def test_the_session_does_not_spin_and_speaks() -> None:
    tts = PiperTTS(threads=1)
    options = tts._voice.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    chunks = [c async for c in tts.synthesize("Hello there. How are you?")]
    await tts.aclose()
    assert len(chunks) == 2
    assert chunks[-1].is_final
    assert np.abs(np.concatenate([c.frame.data for c in chunks])).max() > 1000
