"""Word splitting: batch (:func:`split_words`) and streaming (:class:`WordStream`).

The agent's transcription is released word by word in step with playout, so the words must be
known as the LLM streams text: a word is complete once whitespace follows it. Words keep their
character offsets in the streamed text, so the session can cut the history at the word being
played when the user interrupts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Word", "WordStream", "split_words"]

_WORD = re.compile(r"\S+")
_PUNCT_EDGES = "\"'“”‘’«»()[]{}.,;:!?…-–—"


@dataclass(frozen=True, slots=True)
class Word:
    """A word (punctuation attached, as written) and its ``[start, end)`` offsets in the stream."""

    text: str
    start: int
    end: int


def split_words(text: str, *, ignore_punctuation: bool = True) -> list[str]:
    """The words of ``text``; with ``ignore_punctuation``, leading/trailing punctuation is
    removed and pure-punctuation tokens are dropped ("don't" and "e-mail" stay whole)."""
    words = text.split()
    if not ignore_punctuation:
        return words
    stripped = (w.strip(_PUNCT_EDGES) for w in words)
    return [w for w in stripped if w]


class WordStream:
    """Push text as it streams; get back each word once whitespace ends it. ``flush`` returns
    the last word and resets the offsets for the next segment."""

    __slots__ = ("_buf", "_offset")

    def __init__(self) -> None:
        self._buf = ""
        self._offset = 0  # stream offset of _buf[0]

    def push(self, text: str) -> list[Word]:
        self._buf += text
        out: list[Word] = []
        consumed = 0
        for m in _WORD.finditer(self._buf):
            if m.end() == len(self._buf):
                break  # may continue in the next chunk
            out.append(Word(m.group(), self._offset + m.start(), self._offset + m.end()))
            consumed = m.end()
        self._buf = self._buf[consumed:]
        self._offset += consumed
        return out

    def flush(self) -> list[Word]:
        out = [Word(m.group(), self._offset + m.start(), self._offset + m.end())
               for m in _WORD.finditer(self._buf)]
        self._buf = ""
        self._offset = 0
        return out
