"""Which tool, if any, a user's message asks for, judged by a small model: noisy-channel scoring.

A 135M chat model does not decide well whether to call a tool: its probability of opening a
call (``{``) rises as much for "What's the capital of Japan?" or "Name three colors." as for
"Is it raining in London?". What it does know is language: how likely a message is after a
description of what it is about. So each tool is scored by how much likelier the message is
after "A question about the tool NAME (DESCRIPTION):" than after "A question:" (the log-
likelihood ratio, in nats; the noisy-channel prompting of Min et al., 2022), and the best tool
above ``threshold`` is called. On the evaluation set (``bench/eval_set.py``) the weather
questions score 2.5-10 nats, every other question but one below 2.5.

The scores need the log-probability of every token of the message, so the router keeps its own
small llama.cpp contexts over the same GGUF (memory-mapped, so the weights are shared) with
logits for every position; the chat context keeps its KV cache for the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "ToolRouter"]

DEFAULT_THRESHOLD = 2.5
"""Nats by which the message must be likelier after the tool's description than without it."""

_CTX = 96  # tokens: a prefix and the end of a spoken message
_NEUTRAL = "A question:\n"
_REPLY = "The reply:\n"


def _about(spec: dict[str, Any]) -> str:
    description = str(spec.get("description") or "").strip()
    about = f" ({description})" if description else ""
    return f"A question about the tool {spec['name']}{about}:\n"


class ToolRouter:
    """Scores a message against tool specs (``{"name", "description", ...}``); not thread-safe:
    call it from the LLM's own executor thread.

    One small llama.cpp context per prefix (the neutral one and one per tool), each keeping its
    prefix in its KV cache, so a message costs one pass over its own tokens per prefix: the
    output layer over a 49k vocabulary at every scored position is what the scoring costs.
    """

    def __init__(self, model_path: Path, *, threshold: float = DEFAULT_THRESHOLD,
                 n_threads: int = 1) -> None:
        self.threshold = threshold
        self._path = model_path
        self._threads = n_threads
        self._contexts: dict[str, tuple[Any, list[int]]] = {}

    def prepare(self, specs: Sequence[dict[str, Any]]) -> None:
        """Load the contexts (and their prefixes) for ``specs`` now rather than on first use."""
        for prefix in (_NEUTRAL, *(_about(s) for s in specs)):
            self._context(prefix)

    def route(self, message: str, specs: Sequence[dict[str, Any]]) -> str | None:
        """The name of the tool ``message`` asks for, or None."""
        scores = self.scores(message, specs)
        if not scores:
            return None
        name = max(scores, key=lambda n: scores[n])
        return name if scores[name] >= self.threshold else None

    def scores(self, message: str, specs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Per tool: log P(message | about the tool) - log P(message | a question), in nats."""
        llama, _ = self._context(_NEUTRAL)
        text = llama.tokenize((" " + message.strip()).encode(), add_bos=False)
        if not text:
            return {}
        base = self._logprob(_NEUTRAL, text)
        return {s["name"]: self._logprob(_about(s), text) - base for s in specs}

    def fit(self, replies: Sequence[str], instructions: str) -> list[float]:
        """Per reply: how much likelier it is after "A reply that does this: INSTRUCTIONS" than
        after "A reply:" (nats): the same noisy-channel score, used to pick, among sampled
        greetings, the one that does what its instructions ask."""
        about = f"A reply that does this: {instructions.strip()}\nThe reply:\n"
        llama, _ = self._context(_REPLY)
        out = []
        for reply in replies:
            text = llama.tokenize((" " + reply.strip()).encode(), add_bos=False)
            out.append(self._logprob(about, text) - self._logprob(_REPLY, text)
                       if text else float("-inf"))
        return out

    def _context(self, prefix: str) -> tuple[Any, list[int]]:
        found = self._contexts.get(prefix)
        if found is None:
            from llama_cpp import Llama

            if len(self._contexts) > 16:  # tools come and go with agents: keep a few
                self._contexts.clear()
            llama = Llama(model_path=str(self._path), n_ctx=_CTX, logits_all=True,
                          n_threads=self._threads, n_threads_batch=self._threads,
                          verbose=False, n_batch=_CTX)
            head = llama.tokenize(prefix.encode(), add_bos=False)[-(_CTX // 2):]
            llama.eval(head)  # kept: later passes evaluate only the message
            found = self._contexts[prefix] = (llama, head)
        return found

    def _logprob(self, prefix: str, text: list[int]) -> float:
        llama, head = self._context(prefix)
        text = text[-(_CTX - len(head)):]
        llama.n_tokens = len(head)  # back to the end of the prefix: its KV and logits stay
        llama.eval(text)
        rows = np.asarray(llama.scores[len(head) - 1:len(head) + len(text) - 1], np.float64)
        top = rows.max(axis=1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        picked = rows[np.arange(len(text)), text]
        return float((picked - norm).sum())
