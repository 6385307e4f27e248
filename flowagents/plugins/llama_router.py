"""Which tool, if any, a user's message asks for, judged by a small model from what each tool does.

A 135M chat model does not decide well whether to call a tool: its probability of opening a
call (``{``) rises as much for "What's the capital of Japan?" or "Name three colors." as for
"Is it raining in London?". What it does know is language: how likely a sentence is after
another. So each tool is scored by how much likelier its description ("look up the current
weather in a city.") is after "The user says: MESSAGE / To answer, the assistant must" than
after the same words with no message (the pointwise mutual information of the message and what
the tool does, in nats), and the best tool at or above ``threshold`` is called.

The other direction (how much likelier the message is after "A question about the tool NAME
(DESCRIPTION):" than after "A question:", the noisy channel, used before) rose as much for
place questions ("What language do people speak in Spain?": 4.3 nats) as for weather ones
("Is it raining in London right now?": 0.7). Over the evaluation set (``bench/eval_set.py``)
and its held-out paraphrases, 64 questions, it routed 6 wrongly against 1 now. This takes one
pass over the message and the description where that took two over the message (the
description's score without a message is computed once per tool), 15-20 ms more per turn.

The scores need the log-probability of every token of a description, so the router keeps its
own small llama.cpp contexts over the same GGUF (memory-mapped, so the weights are shared) with
logits for every position; the chat context keeps its KV cache for the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "ToolRouter"]

DEFAULT_THRESHOLD = 0.8
"""Nats by which a tool's description must be likelier after the message than without it."""

_CTX = 160  # tokens: a prefix, the end of a spoken message, a tool's description
_TASK = 48  # tokens of a description scored at most
_SAYS = "The user says:"
_MUST = "\nTo answer, the assistant must"
_REPLY = "The reply:\n"


def _task(spec: dict[str, Any]) -> str:
    """What the tool does, as the end of "the assistant must ...": its description with a
    lower-case first letter ("Look up the weather." -> " look up the weather.")."""
    text = str(spec.get("description") or "").strip() or str(spec["name"]).replace("_", " ")
    if text[:2] != text[:2].upper():  # "Look" -> "look"; "API ..." stays
        text = text[:1].lower() + text[1:]
    return " " + text


class ToolRouter:
    """Scores a message against tool specs (``{"name", "description", ...}``); not thread-safe:
    call it from the LLM's own executor thread.

    One small llama.cpp context keeps "The user says:" in its KV cache: a message costs one
    pass over its own tokens and, per tool, its description's; the output layer over a 49k
    vocabulary at every scored position is what the scoring costs. A description's score
    without a message is computed once per tool.
    """

    def __init__(self, model_path: Path, *, threshold: float = DEFAULT_THRESHOLD,
                 n_threads: int = 1) -> None:
        self.threshold = threshold
        self._path = model_path
        self._threads = n_threads
        self._contexts: dict[str, tuple[Any, list[int]]] = {}
        self._priors: dict[str, float] = {}

    def prepare(self, specs: Sequence[dict[str, Any]]) -> None:
        """Load the context and score the descriptions now rather than on first use."""
        for spec in specs:
            self._prior(spec)

    def route(self, message: str, specs: Sequence[dict[str, Any]]) -> str | None:
        """The name of the tool ``message`` asks for, or None."""
        scores = self.scores(message, specs)
        if not scores:
            return None
        name = max(scores, key=lambda n: scores[n])
        return name if scores[name] >= self.threshold else None

    def scores(self, message: str, specs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Per tool: log P(description | the message) - log P(description | no message), in
        nats."""
        llama, _ = self._context(_SAYS)
        said = llama.tokenize((" " + message.strip()).encode(), add_bos=False)
        if not message.strip() or not specs:
            return {}
        return {s["name"]: self._after(said, s) - self._prior(s) for s in specs}

    def fit(self, replies: Sequence[str], instructions: str) -> list[float]:
        """Per reply: how much likelier it is after "A reply that does this: INSTRUCTIONS" than
        after "A reply:" (nats): the noisy channel, used to pick, among sampled greetings, the
        one that does what its instructions ask."""
        about = f"A reply that does this: {instructions.strip()}\nThe reply:\n"
        llama, _ = self._context(_REPLY)
        out = []
        for reply in replies:
            text = llama.tokenize((" " + reply.strip()).encode(), add_bos=False)
            out.append(self._logprob(about, text) - self._logprob(_REPLY, text)
                       if text else float("-inf"))
        return out

    def _prior(self, spec: dict[str, Any]) -> float:
        key = _task(spec)
        found = self._priors.get(key)
        if found is None:
            found = self._priors[key] = self._after([], spec)
        return found

    def _after(self, said: list[int], spec: dict[str, Any]) -> float:
        """log P(the tool's description | "The user says:" ``said`` "To answer, ... must")."""
        llama, head = self._context(_SAYS)
        must = llama.tokenize(_MUST.encode(), add_bos=False)
        task = llama.tokenize(_task(spec).encode(), add_bos=False)[:_TASK]
        said = said[-(_CTX - len(head) - len(must) - len(task)):] if said else []
        llama.n_tokens = len(head)  # back to the end of the prefix: its KV cache stays
        # the message needs no logits but its last row (the output layer over a 49k
        # vocabulary is a fifth of a token's cost): only the description's rows are computed
        llama._logits_all = False
        try:
            llama.eval(said + must)
            first = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(1, llama.n_vocab()))
            first = first.copy()
        finally:
            llama._logits_all = True
        start = llama.n_tokens
        llama.eval(task[:-1])
        return _sum_logprob(np.concatenate([first, llama.scores[start:start + len(task) - 1]]),
                            task)

    def _context(self, prefix: str) -> tuple[Any, list[int]]:
        found = self._contexts.get(prefix)
        if found is None:
            from llama_cpp import Llama

            if len(self._contexts) > 16:  # instructions come and go with agents: keep a few
                self._contexts.clear()
            llama = Llama(model_path=str(self._path), n_ctx=_CTX, logits_all=True,
                          n_threads=self._threads, n_threads_batch=self._threads,
                          verbose=False, n_batch=_CTX)
            head = llama.tokenize(prefix.encode(), add_bos=False)[-(_CTX // 2):]
            llama.eval(head)  # kept: later passes evaluate only what follows it
            found = self._contexts[prefix] = (llama, head)
        return found

    def _logprob(self, prefix: str, text: list[int]) -> float:
        llama, head = self._context(prefix)
        text = text[-(_CTX - len(head)):]
        llama.n_tokens = len(head)
        llama.eval(text)
        return _sum_logprob(llama.scores[len(head) - 1:len(head) + len(text) - 1], text)


def _sum_logprob(logits: Any, tokens: list[int]) -> float:
    """The log-probability of ``tokens`` given each one's row of logits (one row per token)."""
    rows = np.asarray(logits, np.float64)
    top = rows.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
    picked = rows[np.arange(len(tokens)), tokens]
    return float((picked - norm).sum())
