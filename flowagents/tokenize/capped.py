"""Whole sentences under a token cap: what a spoken reply may say when its length is capped.

A voice reply is capped (a small model otherwise talks for half a minute), and a plain token cap
cuts it mid-word ("However, it also has some"), which the user hears and the chat history keeps.
:class:`SentenceCap` sits between a token stream and the speaker: the first sentence streams as
it comes (the TTS starts on its first clause), every later sentence is held back until it ends.
After ``soft`` tokens the reply stops at the next sentence end; at ``hard`` tokens (a little
above) a sentence still open is dropped, so the reply ends at the last sentence that ended. Only
a first sentence still open at the hard cap is closed with a full stop where it was cut (it has
been spoken already), and so is a reply the model ends without a full stop (so the history
never holds an open sentence). With ``sentences``, the reply also ends at that many sentence
ends (a spoken reply asked for "one or two short sentences" says no third). Sentence ends are
:mod:`flowagents.tokenize.sentences`' (``Mr.`` and ``3.14`` are none).
"""

from __future__ import annotations

from dataclasses import dataclass

from .sentences import _CLOSER_CHARS, _TERMINATORS, _scan

__all__ = ["SentenceCap"]

_HELD = " \t\n,;:-–—"  # trailing marks a full stop may replace
_CLOSERS = _CLOSER_CHARS + " \t\n"


@dataclass(slots=True)
class SentenceCap:
    """Feed it each generated token's text (:meth:`push`), then :meth:`finish` once.

    ``push`` returns the text that may be spoken now and whether generation should stop (a
    sentence ended after ``soft`` tokens, or ``hard`` tokens were reached). ``finish(natural)``
    returns the rest: everything held when the model ended on its own (``natural``), else only
    what completes the reply cleanly. ``sentences``: the most sentences a reply says.
    """

    soft: int
    hard: int
    sentences: int | None = None
    _ends: int = 0  # sentence ends found
    _text: str = ""
    _sent: int = 0  # chars of ``_text`` handed out
    _scan_pos: int = 0
    _last_end: int = 0  # just past the last sentence end found
    _tokens: int = 0
    _first_open: bool = True  # the first sentence has not ended (it streams)
    _stopped: bool = False

    def push(self, piece: str) -> tuple[str, bool]:
        if self._stopped:
            return "", True
        self._text += piece
        self._tokens += 1
        ends, self._scan_pos = _scan(self._text, self._scan_pos, final=False)
        full = self.sentences is not None and self._ends + len(ends) >= self.sentences
        if full:  # the last sentence the reply may say has ended: nothing after it is said
            assert self.sentences is not None
            ends = ends[:self.sentences - self._ends]
            self._text = self._text[:ends[-1]] if ends else self._text
        self._ends += len(ends)
        if ends:
            self._last_end = ends[-1]
            self._first_open = False
        out = self._release()
        if full or (self._tokens >= self.soft and ends):
            self._stopped = True  # a sentence ended past the soft cap: the reply ends there
        elif self._tokens >= self.hard:
            self._stopped = True
            out += self._close()
        return out, self._stopped

    def finish(self, natural: bool) -> str:
        """The rest of the reply: all of it when the model stopped by itself (``natural``), else
        what ends it cleanly. Either way the reply ends with a sentence end."""
        if self._stopped:
            return ""
        self._stopped = True
        if natural:  # all of it, closed with a full stop if the model left it open
            out = self._text[self._sent:].rstrip(_HELD)
            self._sent = len(self._text)
            said = self._text[:self._sent].rstrip(_HELD)
            if said and said.rstrip(_CLOSERS)[-1:] not in _TERMINATORS:
                out += "."
            return out
        out = self._release()
        return out + self._close()

    def _release(self) -> str:
        """The text that may be spoken now: up to the last sentence end, or all of the first
        sentence while it is open."""
        # while the first sentence is open, a trailing clause mark waits (it may be closed there)
        upto = len(self._text.rstrip(_HELD)) if self._first_open else self._last_end
        if upto <= self._sent:
            return ""
        out = self._text[self._sent:upto]
        self._sent = upto
        return out

    def _close(self) -> str:
        """At the hard cap: drop a later sentence still open; close a first one already spoken."""
        if not self._first_open:
            return ""
        spoken = self._text[:self._sent].rstrip()
        if not spoken or spoken[-1] in _TERMINATORS:
            return ""
        return "."
