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

With ``first_clause_words``, the first piece of a segment (of a reply, for TTS) may end earlier,
at a clause boundary: ``,``, ``;`` or ``:`` followed by whitespace and more text, once the piece
has that many words. A TTS that voices a whole piece before its first audio (Piper, most HTTP
APIs) then starts on "The weather in Tokyo is mostly sunny," instead of waiting for the LLM to
finish the sentence and voicing all of it; later pieces are whole sentences, which read better.
``1,000`` and ``20:30`` are no boundary (no whitespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_FIRST_CLAUSE_WORDS", "DEFAULT_MIN_SENTENCE_LEN", "SentenceStream",
           "split_sentences"]

DEFAULT_MIN_SENTENCE_LEN = 20

DEFAULT_FIRST_CLAUSE_WORDS = 4
"""Words a first piece needs before it may end at a clause boundary (where a TTS asks for it)."""

_CLAUSE_MARKS = frozenset(",;:")

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


def _clause_ends(text: str, start: int, final: bool) -> tuple[list[int], int]:
    """Clause ends (just past a ``,;:`` followed by whitespace and more text) from ``start``, and
    where the next scan must resume (at a mark whose lookahead is not in ``text`` yet)."""
    ends: list[int] = []
    n = len(text)
    for i in range(start, n):
        if text[i] not in _CLAUSE_MARKS:
            continue
        k = i + 1
        while k < n and text[k].isspace():
            k += 1
        if k == n:  # nothing after it yet (or ever: then it ends the text, not a clause)
            return ends, (n if final else i)
        if k > i + 1:
            ends.append(i + 1)
    return ends, n


@dataclass(slots=True)
class SentenceStream:
    """Push text as it streams; get back each sentence once it is certainly complete.

    ``push`` returns the sentences completed by the new text, ``flush`` the rest (the end of a
    segment; the stream can then be reused for the next one). ``first_clause_words``: the first
    piece of each segment may end at a clause boundary after that many words (see the module
    docstring; None: sentences only).
    """

    min_sentence_len: int = DEFAULT_MIN_SENTENCE_LEN
    first_clause_words: int | None = None
    _buf: str = ""
    _scan_pos: int = 0
    _clause_pos: int = 0
    _piece_start: int = 0
    _first: bool = True  # nothing emitted yet in this segment
    _ends: list[int] = field(default_factory=list)
    _clauses: list[int] = field(default_factory=list)

    def push(self, text: str) -> list[str]:
        self._buf += text
        self._find(final=False)
        return self._emit()

    def flush(self) -> list[str]:
        self._find(final=True)
        out = self._emit()
        rest = self._buf[self._piece_start:].strip()
        if rest:
            out.append(rest)
        self._buf, self._scan_pos, self._piece_start, self._ends = "", 0, 0, []
        self._clause_pos, self._first, self._clauses = 0, True, []
        return out

    def _find(self, *, final: bool) -> None:
        """Collect the sentence ends (and, for a first piece, clause ends) the text decides."""
        ends, self._scan_pos = _scan(self._buf, self._scan_pos, final=final)
        self._ends.extend(ends)
        if self._first and self.first_clause_words is not None:
            clauses, self._clause_pos = _clause_ends(self._buf, self._clause_pos, final)
            self._clauses.extend(clauses)

    def _emit(self) -> list[str]:
        out: list[str] = []
        if self._first and self._clauses:
            self._emit_first_clause(out)
        for end in self._ends:
            if end <= self._piece_start:
                continue  # inside the clause already emitted
            sentence = self._buf[self._piece_start:end].strip()
            if len(sentence) >= self.min_sentence_len:
                out.append(sentence)
                self._piece_start = end
                self._first = False
        self._ends.clear()
        if self._piece_start > 4096:  # keep the buffer small on long replies
            cut = self._piece_start
            self._buf = self._buf[cut:]
            self._scan_pos -= cut
            self._clause_pos = max(0, self._clause_pos - cut)
            self._piece_start = 0
        return out

    def _emit_first_clause(self, out: list[str]) -> None:
        """End the first piece at its first clause end with enough words, unless a sentence end
        long enough comes before it."""
        words = self.first_clause_words or 0
        sentence_ends = [e for e in self._ends
                         if len(self._buf[self._piece_start:e].strip()) >= self.min_sentence_len]
        first_sentence = min(sentence_ends, default=len(self._buf) + 1)
        for end in self._clauses:
            if end >= first_sentence:
                break
            piece = self._buf[self._piece_start:end].strip()
            if len(piece.split()) >= words:
                out.append(piece)
                self._piece_start = end
                self._first = False
                break
        self._clauses.clear()


def split_sentences(text: str, *, min_sentence_len: int = DEFAULT_MIN_SENTENCE_LEN,
                    first_clause_words: int | None = None) -> list[str]:
    """The sentences of ``text``, stripped, short ones merged with the next; with
    ``first_clause_words``, the first may end at a clause boundary (see the module docstring)."""
    stream = SentenceStream(min_sentence_len=min_sentence_len,
                            first_clause_words=first_clause_words)
    return stream.push(text) + stream.flush()
