"""LlamaLLM's reply rules that need no model: which instructions a reply was given, and which
token pieces a spoken reply never says."""

from __future__ import annotations

from flowagents.plugins.llama import _MARKUP, _extra_instructions


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
