"""The prompt a small local chat model gets: the session's context reshaped so a 135M model keeps
the agent's persona and answers the message it was sent.

The session sends what any chat API takes: the agent's instructions as a system message, the
conversation, and a reply's extra instructions ("Greet the user and ...") as a system message at
the end. A model as small as SmolLM2-135M reads that badly: a second system message after the
first is ignored (the greeting of a "helpful voice assistant" came out as "I'm here to help
with any creative writing project"), tools described as JSON schemas in the system message turn
its plain answers into code and JSON talk, and a tool's output given as data is not read as the
answer to the question. So, for a model whose chat template has no tool role:

- one system message: the agent's instructions, then :data:`VOICE_STYLE`;
- short example exchanges after it (:data:`EXAMPLE`: "Hello!" / "Hi! How can I help you
  today?", a fact and a short instruction answered in a sentence), which show a small model the
  length and register of a reply. One example with content ("What is the capital of Spain?")
  leaked into unrelated answers; three different ones do not, and the content examples make
  answers more direct (the evaluation's answers from the text with a keyword: 28 -> 30 of 42);
- a reply's extra instructions become the last user turn, in brackets, so they are what the
  model answers;
- the tools are described (one line each, not their JSON schemas) only when the reply is a call
  (the call itself is then decoded under a grammar), at the head of the last user turn:
  everything before that turn is then the prompt a text reply gets too, so llama.cpp keeps
  the conversation in its KV cache from one reply to the next (described in the system
  message, they changed the prompt's first lines, and every call and every reply after a tool
  output read the whole conversation again: seconds per step on a small CPU, growing with the
  conversation). Before the user's words, not after: right before the call, the model copied
  the argument's description ("The city name") instead of the city;
- a tool's output comes back as the user's turn in words ("The lookup weather tool found:
  location Tokyo; weather sunny; temperature celsius 24. Answer my question with it.": given
  JSON, the model read the JSON back, braces and all; given as facts in the system message, it
  ignored them).

``bench/bench_offline_eval.py`` measures the effect (``docs/offline.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["EXAMPLE", "TOOLS", "TOOL_OUTPUT", "VOICE_STYLE", "grounded", "small_model_messages",
           "tool_lines", "user_spans", "user_spelling"]

VOICE_STYLE = ("Your replies are spoken aloud: answer the user's last message directly, in one "
               "or two short sentences of plain words.")
"""Appended to the agent's instructions (a small model needs the rule said at the end)."""

EXAMPLE: tuple[tuple[str, str], ...] = (
    ("Hello!", "Hi! How can I help you today?"),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels."),
    ("Name an animal that can fly.", "A bird can fly."),
)

TOOLS = ('You can use these tools:\n{tools}\nTo use one, reply with only {{"name": <tool>, '
         '"arguments": {{...}}}}.')
"""The tools of a call, at the head of the last user turn (see the module docstring)."""

TOOL_OUTPUT = "The {tool} tool found: {output} Answer my question with it."
"""A tool's output as the user's turn, in words (a JSON object as ``key value; ...``)."""
"""An example exchange placed after the system message (question, answer)."""


def tool_lines(specs: Sequence[dict[str, Any]]) -> str:
    """One line per tool: ``- name: description Arguments: param: its description; ...``."""
    lines = []
    for s in specs:
        props = (s.get("parameters") or {}).get("properties", {})
        params = "; ".join(f"{k}: {str(v.get('description') or v.get('type') or '').strip()}"
                           for k, v in props.items())
        lines.append(f"- {s['name']}: {str(s.get('description') or '').strip()}"
                     + (f" Arguments: {params}" if params else ""))
    return "\n".join(lines)


def user_spelling(arguments: dict[str, Any], user_text: str) -> dict[str, Any]:
    """String arguments the user said, spelled as the user's transcript has them: a small
    model copies "Tokyo" as "tokyo" (a lookup keyed by name would still find it, a display
    would not)."""
    out = dict(arguments)
    for key, value in arguments.items():
        if isinstance(value, str) and value.strip():
            found = re.search(rf"(?<!\w){re.escape(value.strip())}(?!\w)", user_text,
                              re.IGNORECASE)
            if found:
                out[key] = found.group(0)
    return out


_FUNCTION_WORDS = """
a an the this that these those my your our their his her its some any all every no
in on at to of for from with about by into onto near like as than over under after before
and or but so if then is are was were be been am do does did can could will would should
shall may might must have has had i you he she it we they me him us them what what's whats
which who whom whose when where where's how how's why there here it's i'm please today now
tomorrow tonight right"""
_NOT_A_NAME = frozenset(_FUNCTION_WORDS.split())
"""Words a name never starts or ends with (articles, prepositions, pronouns, auxiliaries,
question words, times of day): "in Tokyo" or "Tokyo today" is not a place, "Tokyo" is."""

_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_CLAUSE = re.compile(r"[,;:!?()\"]")


def user_spans(text: str, max_words: int = 4) -> list[str]:
    """The runs of up to ``max_words`` words of ``text`` that could name a thing: within one
    clause, neither starting nor ending with a word of :data:`_NOT_A_NAME`, spelled as in
    ``text`` ("St. Louis")."""
    spans: list[str] = []
    for clause in _CLAUSE.split(text):
        words = list(_WORD.finditer(clause))
        for i, first in enumerate(words):
            if first.group().lower() in _NOT_A_NAME:
                continue
            for last in words[i:i + max_words]:
                if last.group().lower() not in _NOT_A_NAME:
                    span = clause[first.start():last.end()]
                    if span not in spans:
                        spans.append(span)
    return spans


def grounded(parameters: dict[str, Any], spans: Sequence[str]) -> dict[str, Any] | None:
    """``parameters`` (a JSON schema) with each free string argument (no enum, const, pattern
    or format) restricted to ``spans``, the user's words: decoded under that schema, a call
    names only what the user said (SmolLM2 otherwise fills a place the user did not name with
    the one in the tool's description, "Tokyo"). None when such an argument is required and
    the user said nothing it could be."""
    props = parameters.get("properties") or {}
    free = [k for k, v in props.items() if v.get("type") == "string"
            and not {"enum", "const", "pattern", "format"} & v.keys()]
    if not free:
        return parameters
    if not spans and set(free) & set(parameters.get("required") or ()):
        return None
    out = dict(parameters)
    out["properties"] = {k: ({**v, "enum": list(spans)} if k in free and spans else v)
                         for k, v in props.items()}
    if not spans:  # optional, and nothing to name: left out
        out["properties"] = {k: v for k, v in out["properties"].items() if k not in free}
    return out


def small_model_messages(messages: Sequence[dict[str, Any]], *,
                         call_specs: Sequence[dict[str, Any]] = (),
                         example: bool = True) -> list[dict[str, Any]]:
    """``messages`` (OpenAI format, text content) reshaped for a small model without a tool
    role (see the module docstring); ``call_specs``: the tools, when the reply is a call."""
    system: list[str] = []  # the leading system messages: the agent's instructions
    body: list[dict[str, Any]] = []
    pending: list[str] = []  # later system messages, not yet placed
    names: dict[Any, str] = {}  # tool call id -> tool name
    question = ""  # the user's last message
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "system":
            (pending if body or system else system).append(content)
            continue
        if pending:  # instructions in the middle of the conversation stay where they were
            body.append({"role": "user", "content": _bracket(pending)})
            pending = []
        if role == "assistant" and m.get("tool_calls"):
            names.update({c.get("id"): c["function"]["name"] for c in m["tool_calls"]})
            if content:
                body.append({"role": "assistant", "content": content})
        elif role == "tool":
            name = names.get(m.get("tool_call_id"), "tool")
            body.append({"role": "user", "content": TOOL_OUTPUT.format(
                tool=name.replace("_", " "), output=_plain(content), question=question)})
        else:
            if role == "user":
                question = content
            body.append({"role": role, "content": content})
    text = "\n".join(s.strip() for s in system if s.strip())
    text = f"{text}\n{VOICE_STYLE}" if text else VOICE_STYLE
    out = [{"role": "system", "content": text}]
    if example:
        for question, answer in EXAMPLE:
            out += [{"role": "user", "content": question},
                    {"role": "assistant", "content": answer}]
    if pending:  # a reply's extra instructions: what the model answers
        body.append({"role": "user", "content": _bracket(pending)})
    body = _merge_users(body)
    if call_specs:  # in the last turn: the prompt before it is the one a text reply gets
        tools = TOOLS.format(tools=tool_lines(call_specs))
        if body and body[-1]["role"] == "user":
            body[-1] = {"role": "user", "content": f"{tools}\n{body[-1]['content']}"}
        else:
            body.append({"role": "user", "content": tools})
    return out + body


def _bracket(texts: list[str]) -> str:
    return "[" + " ".join(t.strip() for t in texts if t.strip()) + "]"


def _merge_users(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive user turns joined (a template alternates roles; two in a row confuse it)."""
    out: list[dict[str, Any]] = []
    for m in body:
        if out and m["role"] == "user" and out[-1]["role"] == "user":
            out[-1] = {"role": "user", "content": f"{out[-1]['content']}\n{m['content']}"}
        else:
            out.append(m)
    return out


def _plain(output: str) -> str:
    """A tool's output as words: a JSON object as ``key value; ...`` (a small model copies
    JSON it is shown, braces and all, into a spoken reply)."""
    data = _loads(output)
    if isinstance(data, dict):
        parts = (f"{str(k).replace('_', ' ')} "
                 f"{_plain(json.dumps(v)).rstrip('.') if isinstance(v, dict) else v}"
                 for k, v in data.items())
        return "; ".join(parts) + "."
    return output.strip()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
