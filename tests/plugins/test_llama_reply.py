"""LlamaLLM's reply rules that need no model: which instructions a reply was given, which
token pieces a spoken reply never says, and where a call's sampling stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from flowagents.plugins.llama import (
    _MARKUP,
    _call_complete,
    _call_head,
    _drain,
    _extra_instructions,
)


def test_the_extra_instructions_are_the_system_messages_after_the_last_turn() -> None:
    agent = {"role": "system", "content": "You are a weather assistant."}
    greet = {"role": "system", "content": "Greet the user."}
    assert _extra_instructions([agent, greet]) == "Greet the user."
    assert _extra_instructions([agent]) == ""
    user = {"role": "user", "content": "Hi."}
    assert _extra_instructions([agent, user]) == ""
    assert _extra_instructions([agent, user, greet, {"role": "system", "content": " Be brief. "}]
                               ) == "Greet the user. Be brief."
    assert _extra_instructions([agent, greet, user]) == ""


def test_markup_and_line_breaks_are_never_spoken() -> None:
    for piece in ("\n", " **", "#", "`", "_", " [", "]", "{", "|", "<", "~"):
        assert _MARKUP.search(piece), piece
    for piece in (" Tokyo", ".", ",", "!", " 24", "'s", " -", "?"):
        assert not _MARKUP.search(piece), piece


def test_a_call_is_complete_once_its_json_object_closes() -> None:
    value = _call_complete(_call_head("lookup_weather") + ' {"location": "', "}}")
    assert [value(t) for t in ("", "Tok", "Tokyo", 'Tokyo"')] == [False, False, False, True]
    arguments = _call_complete(_call_head("f"), "}")
    assert [arguments(t) for t in (' {"a": 1', ' {"a": 12', ' {"a": 12}', ' {"a": "x}"',
                                   ' {"a": "x}"}', ' {"a": [1, 2]', ' {"a": [1, 2]}')
            ] == [False, False, True, False, True, False, True]
    whole = _call_complete("", "")
    assert [whole(t) for t in ('{"name": "f", "arguments": {}', '{"name": "f", "arguments": {}}',
                               '"text"')] == [False, True, False]


class _Stream:
    """A completion stream of given pieces that records how far it was read."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces, self.read, self.closed = pieces, 0, False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for piece in self.pieces:
            self.read += 1
            yield {"choices": [{"text": piece, "finish_reason": None}]}

    def close(self) -> None:
        self.closed = True


def test_a_calls_sampling_stops_when_the_call_is_complete() -> None:
    """The grammar allows only the turn's end after the closing quote: nothing more is read."""
    stream = _Stream(["Tok", 'yo"', "", "<never>"])
    said: list[object] = []
    complete = _call_complete(_call_head("lookup_weather") + ' {"location": "', "}}")
    pieces = _drain(stream, None, threading.Event(), said.append, complete)
    assert pieces == ["Tok", 'yo"']
    assert said == ["Tok", 'yo"']
    assert stream.closed
    assert stream.read == 2
    stream = _Stream(["Tok", "yo"])  # cut short: read to its end, not complete
    assert _drain(stream, None, threading.Event(), said.append, complete) == ["Tok", "yo"]
    assert not stream.closed
    assert stream.read == 2
