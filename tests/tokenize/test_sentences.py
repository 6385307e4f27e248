"""Sentence and word splitting: the cases TTS cares about, and stream == batch for any chunking."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flowagents.tokenize import SentenceStream, Word, WordStream, split_sentences, split_words


def test_splits_on_terminators_and_keeps_punctuation() -> None:
    text = "Hello there, how are you? I'm fine, thanks for asking! The weather is nice today."
    assert split_sentences(text) == [
        "Hello there, how are you?", "I'm fine, thanks for asking!", "The weather is nice today."]


def test_abbreviations_acronyms_initials_and_decimals_do_not_split() -> None:
    text = ("Mr. Smith met Dr. Jones in the U.S. last year. Pi is about 3.14 and e is 2.71, "
            "e.g. in maths. J. R. R. Tolkien wrote books, i.e. novels.")
    assert split_sentences(text, min_sentence_len=1) == [
        "Mr. Smith met Dr. Jones in the U.S. last year.",
        "Pi is about 3.14 and e is 2.71, e.g. in maths.",
        "J. R. R. Tolkien wrote books, i.e. novels."]


def test_ellipses_quotes_and_lowercase_continuations() -> None:
    text = ('Wait... what? Well... Okay. He said "Stop right there." Then he left. '
            '"Go!" she shouted loudly.')
    assert split_sentences(text, min_sentence_len=1) == [
        "Wait... what?", "Well...", "Okay.", 'He said "Stop right there."', "Then he left.",
        '"Go!" she shouted loudly.']


def test_short_sentences_merge_with_the_next() -> None:
    text = "Hi. Okay. This one is long enough to stand. Bye."
    assert split_sentences(text) == ["Hi. Okay. This one is long enough to stand.", "Bye."]
    assert split_sentences(text, min_sentence_len=0) == [
        "Hi.", "Okay.", "This one is long enough to stand.", "Bye."]


def test_cjk_full_stops_split_without_spaces() -> None:
    sentences = split_sentences("你好。今天天气很好！", min_sentence_len=1)
    assert sentences == ["你好。", "今天天气很好！"]


def test_stream_emits_only_certain_sentences_and_flush_resets() -> None:
    s = SentenceStream(min_sentence_len=5)
    assert s.push("It costs 3.") == []  # "3." may be "3.14"
    assert s.push("50 dollars. Then") == ["It costs 3.50 dollars."]
    assert s.push(" we go") == []
    assert s.flush() == ["Then we go"]
    assert s.push("Again, a new segment. ") == []  # the next character decides
    assert s.push("Yes") == ["Again, a new segment."]
    assert s.flush() == ["Yes"]
    assert s.flush() == []


def test_first_piece_ends_at_a_clause_then_sentences_follow() -> None:
    text = ("The weather in Tokyo is mostly sunny, with a light breeze. Tomorrow, it will rain "
            "a little, then clear up. Bring an umbrella.")
    assert split_sentences(text, first_clause_words=4) == [
        "The weather in Tokyo is mostly sunny,", "with a light breeze.",
        "Tomorrow, it will rain a little, then clear up.", "Bring an umbrella."]
    assert split_sentences(text) == [  # off by default
        "The weather in Tokyo is mostly sunny, with a light breeze.",
        "Tomorrow, it will rain a little, then clear up.", "Bring an umbrella."]


def test_a_clause_needs_enough_words_and_whitespace_after_its_mark() -> None:
    assert split_sentences("Sure, I can help with that today; just ask me.",
                           first_clause_words=4) == [
        "Sure, I can help with that today;", "just ask me."]
    assert split_sentences("It costs 1,000 dollars at 20:30 tonight, or less.",
                           first_clause_words=4) == [
        "It costs 1,000 dollars at 20:30 tonight,", "or less."]
    assert split_sentences("Mr. Smith paid 3.14 dollars, e.g. in cash.",
                           first_clause_words=3, min_sentence_len=1) == [
        "Mr. Smith paid 3.14 dollars,", "e.g. in cash."]
    # a sentence long enough that ends first wins; a clause too short is no cut
    assert split_sentences("This is a whole sentence. Then, more text, and more.",
                           first_clause_words=2) == [
        "This is a whole sentence.", "Then, more text, and more."]


def test_stream_cuts_the_first_clause_as_soon_as_the_next_word_starts() -> None:
    s = SentenceStream(first_clause_words=4)
    assert s.push("The weather in Tokyo is sunny,") == []  # maybe the end of the text
    assert s.push(" ") == []
    assert s.push("w") == ["The weather in Tokyo is sunny,"]
    assert s.push("ith a breeze, and warm, all day. Next") == ["with a breeze, and warm, all day."]
    assert s.flush() == ["Next"]
    assert s.push("A new reply starts here, again") == ["A new reply starts here,"]
    assert s.flush() == ["again"]


def test_empty_and_whitespace() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n ") == []


_ALPHABET = st.sampled_from(list("abcXY 3.?!\"'…。\n,;:")
                            + [" Mr.", " U.S.", " e.g.", "...", " The", ", ", " word"])
texts = st.lists(_ALPHABET, max_size=60).map("".join)


def _normalize(s: str) -> str:
    return "".join(s.split())


@settings(max_examples=300, deadline=None)
@given(text=texts, min_len=st.integers(0, 30), words=st.none() | st.integers(0, 6))
def test_sentences_reassemble_the_text(text: str, min_len: int, words: int | None) -> None:
    sentences = split_sentences(text, min_sentence_len=min_len, first_clause_words=words)
    assert _normalize("".join(sentences)) == _normalize(text)
    assert all(s == s.strip() and s for s in sentences)
    clause = words is not None and len(sentences) > 1 and sentences[0][-1] in ",;:"
    assert all(len(s) >= min_len for s in sentences[1 if clause else 0:-1])
    if words is not None and clause:  # a first clause has its words
        assert len(sentences[0].split()) >= words


@settings(max_examples=300, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 200)), min_len=st.integers(0, 30),
       words=st.none() | st.integers(0, 6))
def test_streaming_in_any_chunks_equals_batch(text: str, cuts: list[int], min_len: int,
                                              words: int | None) -> None:
    stream = SentenceStream(min_sentence_len=min_len, first_clause_words=words)
    out: list[str] = []
    prev = 0
    for cut in sorted(c for c in cuts if c <= len(text)) + [len(text)]:
        out += stream.push(text[prev:cut])
        prev = cut
    out += stream.flush()
    assert out == split_sentences(text, min_sentence_len=min_len, first_clause_words=words)


def test_split_words() -> None:
    text = "Hello, world! Don't stop -- it's e-mail time..."
    assert split_words(text) == ["Hello", "world", "Don't", "stop", "it's", "e-mail", "time"]
    assert split_words(text, ignore_punctuation=False) == text.split()


def test_word_stream_offsets() -> None:
    w = WordStream()
    assert w.push("Hel") == []
    assert w.push("lo wor") == [Word("Hello", 0, 5)]
    assert w.push("ld, ok") == [Word("world,", 6, 12)]
    assert w.flush() == [Word("ok", 13, 15)]
    assert w.push("again ") == [Word("again", 0, 5)]


@settings(max_examples=200, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 200)))
def test_word_stream_matches_split(text: str, cuts: list[int]) -> None:
    stream = WordStream()
    words: list[Word] = []
    prev = 0
    for cut in sorted(c for c in cuts if c <= len(text)) + [len(text)]:
        words += stream.push(text[prev:cut])
        prev = cut
    words += stream.flush()
    assert [w.text for w in words] == text.split()
    assert all(text[w.start:w.end] == w.text for w in words)
