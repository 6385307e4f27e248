"""What the live graph view shows of a node's last value: short, from data fields, no secret."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, SecretStr

from flowagents.runtime.safe_repr import safe_repr
from flowagents.types import AudioFrame, ChatChunk, SpeechData, SpeechEvent, SpeechEventType

KEY = "sk-proj-0123456789abcdef"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl"


class Client:
    """A provider-like object whose own repr would print its key."""

    def __init__(self) -> None:
        self.api_key = KEY

    def __repr__(self) -> str:
        return f"Client(api_key={self.api_key!r})"


@dataclass
class Holder:
    name: str
    client: Client
    token: str = JWT
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {KEY}"})


class Settings(BaseModel):
    model: str = "gpt-4o"
    api_key: str = KEY
    password: SecretStr = SecretStr("hunter2-hunter2")


def test_values_show_their_data_fields_briefly() -> None:
    frame = AudioFrame(np.zeros(320, dtype=np.int16), 16000, timestamp=1.25)
    assert safe_repr(frame) == ("AudioFrame(data=int16[320], sample_rate=16000, "
                                "num_channels=1, timestamp=1.25)")
    assert safe_repr(ChatChunk(id="c1", delta="Hi")).startswith(
        "ChatChunk(id='c1', delta='Hi', tool_calls=()")
    assert safe_repr(SpeechEventType.FINAL_TRANSCRIPT) == "SpeechEventType.FINAL_TRANSCRIPT"
    assert safe_repr([1, 2, 3, 4, 5]) == "[1, 2, 3, …]"
    assert safe_repr(b"\0" * 640) == "<640 bytes>"
    assert safe_repr(0.1 + 0.2) == "0.3"
    assert safe_repr(None) == "None"


def test_long_values_are_cut_to_the_limit() -> None:
    event = SpeechEvent(SpeechEventType.FINAL_TRANSCRIPT, 1.0,
                        (SpeechData("word " * 500),))
    text = safe_repr(event)
    assert len(text) == 80
    assert text.endswith("…")
    assert len(safe_repr("x" * 10_000, limit=20)) == 20


def test_secrets_never_show() -> None:
    shown = [safe_repr(v, limit=400) for v in (
        Client(), Holder("h", Client()), Settings(), {"api_key": KEY, "x": 1},
        f"my key is {KEY} ok", f"token={JWT}", f"Authorization: Bearer {KEY}", [KEY], (JWT,))]
    for text in shown:
        assert KEY not in text, text
        assert JWT not in text, text
        assert "hunter2" not in text, text
        assert "0123456789abcdef" not in text, text  # not even a part of the key
    client, holder, settings, mapping, sentence = shown[:5]
    assert client == "<Client>"  # an object without data fields: its type only
    assert holder.startswith("Holder(name='h', client=<Client>, token=***, headers=")
    assert settings == "Settings(model='gpt-4o', api_key=***, password=***)"
    assert mapping == "{'api_key': ***, 'x': 1}"
    assert sentence == "'my key is *** ok'"


def test_names_that_merely_contain_key_or_token_are_shown() -> None:
    @dataclass
    class Usage:
        prompt_tokens: int = 3
        monkey: str = "ok"

    class Colour(enum.Enum):
        RED = 1

    assert safe_repr(Usage()) == "Usage(prompt_tokens=3, monkey='ok')"
    assert safe_repr(Colour.RED) == "Colour.RED"
