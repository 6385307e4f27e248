"""Sentence splitting for TTS: batch and streaming.

A reply is voiced sentence by sentence so the first audio can play while the LLM is still writing,
so the splitter must decide a sentence boundary as soon as it is sure and never take it back. A
boundary is a run of ``.``/``?``/``!``/``…`` (plus closing quotes or brackets) followed by
whitespace and a character that is not a lowercase letter. It is not a boundary after an
abbreviation (``Mr.``, ``e.g.``), an acronym or initial (``U.S.``, ``J.``), or inside a number
(``3.14``, no whitespace). CJK full stops split without whitespace. Sentences shorter than
``min_sentence_len`` characters are merged with the next one (a TTS voices a lone "Hi." badly).
A decision needs at most the next non-space character, so streaming text in any chunks gives
the same sentences as splitting it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_MIN_SENTENCE_LEN", "SentenceStream", "split_sentences"]

DEFAULT_MIN_SENTENCE_LEN = 20

_TERMINATORS = frozenset(".?!…。！？")
_CJK_TERMINATORS = frozenset("。！？")
_CLOSER_CHARS = "\"'”’»)]}"
_CLOSERS = frozenset(_CLOSER_CHARS)
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "corp", "no", "nos", "mt", "ft", "approx", "dept", "est", "fig", "gen", "gov", "hon",
    "lt", "col", "capt", "sgt", "rev", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "cf", "al",
))


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the ``.`` at ``dot`` ends an abbreviation, an acronym (U.S.) or an initial (J.)."""
    start = dot
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in _CJK_TERMINATORS:
        start -= 1
    word = text[start:dot].lstrip("\"'“‘([{")
    if not word:
        return False
    if word.lower() in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "J. R. R. Tolkien"
    parts = word.split(".")
    return len(parts) > 1 and all(len(p) == 1 and p.isalpha() for p in parts)  # U.S, e.g


def _scan(text: str, start: int, final: bool) -> tuple[list[int], int]:
    """Sentence ends found in ``text`` from ``start``, and where the next scan must resume.

    Each end is the index just past the punctuation and closers. Without ``final``, a candidate
    whose lookahead is not in ``text`` yet stops the scan (resume there when more text comes).
    """
    ends: list[int] = []
    n = len(text)
    i = start
    while i < n:
        if text[i] not in _TERMINATORS:
            i += 1
            continue
        j = i
        while j < n and text[j] in _TERMINATORS:
            j += 1
        while j < n and text[j] in _CLOSERS:
            j += 1
        k = j
        while k < n and text[k].isspace():
            k += 1
        if k == n:  # the lookahead is not here yet (or this is the end of the text)
            return ends, (n if final else i)
        run = text[i:j]
        if k == j and not any(c in _CJK_TERMINATORS for c in run):
            i = j  # "3.14", "a.b", "?!x": no whitespace, no boundary
            continue
        if text[k].islower() or (run.rstrip(_CLOSER_CHARS) == "." and _is_abbreviation(text, i)):
            i = k
            continue
        ends.append(j)
        i = k
    return ends, n


@dataclass(slots=True)
class SentenceStream:
    """Push text as it streams; get back each sentence once it is certainly complete.

    ``push`` returns the sentences completed by the new text, ``flush`` the rest (the end of a
    segment; the stream can then be reused for the next one).
    """

    min_sentence_len: int = DEFAULT_MIN_SENTENCE_LEN
    _buf: str = ""
    _scan_pos: int = 0
    _piece_start: int = 0
    _ends: list[int] = field(default_factory=list)

    def push(self, text: str) -> list[str]:
        self._buf += text
        ends, self._scan_pos = _scan(self._buf, self._scan_pos, final=False)
        self._ends.extend(ends)
        return self._emit()

    def flush(self) -> list[str]:
        ends, _ = _scan(self._buf, self._scan_pos, final=True)
        self._ends.extend(ends)
        out = self._emit()
        rest = self._buf[self._piece_start:].strip()
        if rest:
            out.append(rest)
        self._buf, self._scan_pos, self._piece_start, self._ends = "", 0, 0, []
        return out

    def _emit(self) -> list[str]:
        out: list[str] = []
        for end in self._ends:
            sentence = self._buf[self._piece_start:end].strip()
            if len(sentence) >= self.min_sentence_len:
                out.append(sentence)
                self._piece_start = end
        self._ends.clear()
        if self._piece_start > 4096:  # keep the buffer small on long replies
            cut = self._piece_start
            self._buf = self._buf[cut:]
            self._scan_pos -= cut
            self._piece_start = 0
        return out


def split_sentences(text: str, *, min_sentence_len: int = DEFAULT_MIN_SENTENCE_LEN) -> list[str]:
    """The sentences of ``text``, stripped, short ones merged with the next."""
    stream = SentenceStream(min_sentence_len=min_sentence_len)
    return stream.push(text) + stream.flush()
