"""SentenceCap: a capped reply says whole sentences, and says exactly what it hands out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flowagents.tokenize.capped import SentenceCap


def run(pieces: list[str], soft: int, hard: int, natural: bool | None = None,
        sentences: int | None = None) -> tuple[list[str], int]:
    """The pieces handed out, and how many tokens were pushed before the cap said stop.
    ``natural`` None: the model ends on its own after the last piece unless stopped."""
    cap = SentenceCap(soft=soft, hard=hard, sentences=sentences)
    out: list[str] = []
    used = 0
    for p in pieces:
        text, stop = cap.push(p)
        used += 1
        if text:
            out.append(text)
        if stop:
            break
    else:
        rest = cap.finish(natural=True if natural is None else natural)
        if rest:
            out.append(rest)
    return out, used


def tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


def test_the_first_sentence_streams_token_by_token() -> None:
    out, _ = run(tokens("The capital of France is Paris."), soft=60, hard=90)
    assert out == tokens("The capital of France is Paris.")


def test_later_sentences_come_whole() -> None:
    out, _ = run(tokens("Paris is big. It has many museums. Go there."), soft=60, hard=90)
    assert out == ["Paris", " is", " big.", " It has many museums.", " Go there."]


def test_after_the_soft_cap_the_reply_ends_at_the_next_sentence_end() -> None:
    text = "One two three. Four five six seven. Eight nine ten."
    out, used = run(tokens(text), soft=5, hard=30)
    assert "".join(out) == "One two three. Four five six seven."
    assert used == 8  # the token after "seven." shows the sentence ended


def test_a_later_sentence_open_at_the_hard_cap_is_dropped() -> None:
    text = "One two three. However, it also has some of the best food in"
    out, used = run(tokens(text), soft=5, hard=9)
    assert "".join(out) == "One two three."
    assert used == 9


def test_a_first_sentence_open_at_the_hard_cap_is_closed_where_it_was_cut() -> None:
    out, _ = run(tokens("Tokyo has hot summers, mild winters, rain"), soft=3, hard=6)
    assert "".join(out) == "Tokyo has hot summers, mild winters."


def test_a_natural_end_keeps_everything() -> None:
    out, _ = run(tokens("Sure. Ask me anything you like. Or not"), soft=60, hard=90)
    assert "".join(out) == "Sure. Ask me anything you like. Or not."


def test_a_natural_end_on_a_clause_mark_ends_with_a_full_stop() -> None:
    out, _ = run(tokens("Here are some ideas:"), soft=60, hard=90)
    assert "".join(out) == "Here are some ideas."


def test_an_abbreviation_is_no_sentence_end() -> None:
    out, used = run(tokens("Ask Dr. Smith about it. He knows a lot."), soft=2, hard=40)
    assert "".join(out) == "Ask Dr. Smith about it."
    assert used == 6


@given(st.lists(st.sampled_from(["Yes", " no", ".", " Maybe", ",", " it", "!", " Dr.", " 3.5"]),
                min_size=1, max_size=80),
       st.integers(1, 40), st.integers(0, 20), st.booleans())
def test_a_capped_reply_is_a_prefix_that_ends_a_sentence(pieces: list[str], soft: int,
                                                         slack: int, natural: bool) -> None:
    out, _ = run(pieces, soft=soft, hard=soft + slack, natural=natural)
    said = "".join(out)
    if said.strip():
        assert said.rstrip()[-1] in ".!?", said
    generated = "".join(pieces)
    assert generated.startswith(said) or said.endswith(".") and generated.startswith(said[:-1])


def test_a_sentence_cap_ends_the_reply_at_its_last_sentence_end() -> None:
    text = "It is sunny. It is 24 degrees. Enjoy the day! Bye."
    out, used = run(tokens(text), soft=60, hard=90, sentences=2)
    assert "".join(out) == "It is sunny. It is 24 degrees."
    assert used == 8  # stopped at " Enjoy": the first token after the second end
    one, _ = run(["Yes.", " Sure.", " Maybe."], soft=60, hard=90, sentences=1)
    assert one == ["Yes."]
    together, _ = run(["Yes. Sure. Maybe.", " Fine."], soft=60, hard=90, sentences=2)
    assert "".join(together) == "Yes. Sure."


def test_a_reply_within_the_sentence_cap_is_said_whole() -> None:
    out, _ = run(tokens("It is sunny. It is warm."), soft=60, hard=90, sentences=2)
    assert "".join(out) == "It is sunny. It is warm."
