"""OpenAI Realtime (speech to speech) over its WebSocket: ``openai.realtime.RealtimeModel``.

``{base_url}/realtime?model=...`` (``ws`` scheme, ``Authorization: Bearer`` and
``OpenAI-Beta: realtime=v1`` headers). The session configures itself with ``session.update``
(voice, 16-bit PCM in and out at 24 kHz, input transcription, the server's VAD with
``create_response: false``: the graph, not the server, decides when to answer; or no server VAD
when the graph has its own, which then commits each turn), streams the
user's audio with ``input_audio_buffer.append``, and reads the server's events: the VAD's
``speech_started`` / ``speech_stopped`` and each user turn's transcript become
:class:`~flowagents.llm.realtime.RealtimeInput`; a ``response.create`` answered by
``response.created`` streams ``response.audio.delta`` (audio), ``response.audio_transcript.delta``
(text), ``response.function_call_arguments.done`` (tool calls) and ``response.done`` (usage) as
:class:`~flowagents.llm.realtime.RealtimeOutput`. Closing a reply early sends
``response.cancel``; ``truncate`` sends ``conversation.item.truncate`` with the played
milliseconds. Connecting is retried under the connection options; a dropped connection or a
malformed event fails the session's streams with a typed error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from flowagents.errors import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
)
from flowagents.llm.realtime import RealtimeInput, RealtimeOutput
from flowagents.llm.realtime import RealtimeModel as BaseRealtimeModel
from flowagents.llm.realtime import RealtimeSession as BaseRealtimeSession
from flowagents.plugins._audio import PCMChunker
from flowagents.plugins._http import APIKey, HTTPSession, connection_error, status_error
from flowagents.plugins._ws import beside, json_messages, stop_task
from flowagents.retry import call_with_retry
from flowagents.types import AudioFrame, TokenUsage

from .llm import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from flowagents.llm.chat_context import ChatContext, FunctionCallOutput
    from flowagents.llm.tool_context import FunctionTool

__all__ = ["RealtimeModel", "RealtimeSession"]

logger = logging.getLogger("flowagents.plugins.openai")
_RATE = 24000


class RealtimeModel(BaseRealtimeModel):
    """``openai.realtime.RealtimeModel(voice="alloy")``, as in LiveKit."""

    label = "openai-realtime"
    sample_rate = _RATE

    def __init__(self, *, model: str = "gpt-4o-realtime-preview", voice: str = "alloy",
                 transcription_model: str = "gpt-4o-mini-transcribe",
                 temperature: float = 0.8, api_key: str | None = None,
                 base_url: str | None = None,
                 conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> None:
        self.model = model
        self.voice = voice
        self.transcription_model = transcription_model
        self.temperature = temperature
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.conn_options = conn_options
        self._key = APIKey("openai", api_key, "OPENAI_API_KEY",
                           required=self.base_url == DEFAULT_BASE_URL)
        self._http = HTTPSession()

    def session(self) -> RealtimeSession:
        return RealtimeSession(self)

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        headers = {"OpenAI-Beta": "realtime=v1"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        try:
            return await self._http.get().ws_connect(
                f"{self.base_url}/realtime", params={"model": self.model}, headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0))
        except (aiohttp.ClientError, TimeoutError) as e:
            raise connection_error("openai", e, self._key) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"openai.realtime.RealtimeModel(model={self.model!r}, voice={self.voice!r})"


_Queue = asyncio.Queue[Any]


class RealtimeSession(BaseRealtimeSession):
    """One Realtime conversation on one WebSocket (see the module docstring)."""

    def __init__(self, model: RealtimeModel) -> None:
        self._model = model
        self._outgoing: _Queue = asyncio.Queue()
        self._inputs: _Queue = asyncio.Queue()
        self._waiting: deque[_Queue] = deque()  # response.create sent, not yet created
        self._responses: dict[str, tuple[_Queue, PCMChunker]] = {}
        self._sent_items: set[str] = set()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    # -- the interface ---------------------------------------------------------------------
    def push_audio(self, frame: AudioFrame) -> None:
        if frame.sample_rate != _RATE or frame.num_channels != 1:
            raise ValueError("openai realtime takes 24 kHz mono audio: resample it first")
        self._send({"type": "input_audio_buffer.append",
                    "audio": base64.b64encode(frame.data.tobytes()).decode()})

    def commit_audio(self) -> None:
        self._send({"type": "input_audio_buffer.commit"})

    async def inputs(self) -> AsyncIterator[RealtimeInput]:
        while (item := await self._inputs.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def generate_reply(self, *, instructions: str | None = None
                             ) -> AsyncIterator[RealtimeOutput]:
        queue: _Queue = asyncio.Queue()
        self._waiting.append(queue)
        response: dict[str, Any] = {"modalities": ["audio", "text"]}
        if instructions:
            response["instructions"] = instructions
        self._send({"type": "response.create", "response": response})
        finished = False
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
            finished = True
        finally:
            if not finished:
                self._send({"type": "response.cancel"})
            with contextlib.suppress(ValueError):
                self._waiting.remove(queue)
            for rid, (q, _) in list(self._responses.items()):
                if q is queue:
                    del self._responses[rid]

    async def tool_outputs(self, outputs: Sequence[FunctionCallOutput]) -> None:
        for output in outputs:
            self._send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": output.call_id,
                "output": output.output}})

    async def truncate(self, item_id: str, played: float) -> None:
        self._send({"type": "conversation.item.truncate", "item_id": item_id,
                    "content_index": 0, "audio_end_ms": max(0, round(played * 1000))})

    async def update(self, *, instructions: str, chat_ctx: ChatContext,
                     tools: Sequence[FunctionTool] = (), server_vad: bool = True) -> None:
        m = self._model
        vad = ({"type": "server_vad", "create_response": False, "interrupt_response": False}
               if server_vad else None)
        self._send({"type": "session.update", "session": {
            "instructions": instructions, "voice": m.voice, "modalities": ["audio", "text"],
            "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "input_audio_transcription": {"model": m.transcription_model},
            "turn_detection": vad,
            "temperature": m.temperature,
            "tools": [{"type": "function", **t.openai_schema()["function"]} for t in tools],
        }})
        for item in chat_ctx.items:
            if item.type != "message" or item.id in self._sent_items or item.role == "system":
                continue
            if item.role not in ("user", "assistant") or not item.text_content:
                continue
            self._sent_items.add(item.id)
            kind = "input_text" if item.role == "user" else "text"
            self._send({"type": "conversation.item.create", "item": {
                "type": "message", "role": item.role,
                "content": [{"type": kind, "text": item.text_content}]}})

    async def aclose(self) -> None:
        self._closed = True
        await stop_task(self._task)

    # -- the connection --------------------------------------------------------------------
    def _send(self, event: dict[str, Any]) -> None:
        self._outgoing.put_nowait(event)

    async def _run(self) -> None:
        model = self._model
        ws: aiohttp.ClientWebSocketResponse | None = None
        try:
            ws = await call_with_retry(model.connect, conn_options=model.conn_options,
                                       label=model.label)
            async with beside(self._pump(ws)):
                await self._receive(ws)
            if not self._closed:
                raise APIConnectionError("openai: the realtime connection closed")
        except APIError as e:
            self._fail(e)
        finally:
            if ws is not None:
                with contextlib.suppress(aiohttp.ClientError, RuntimeError):
                    await ws.close()

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
            while True:
                await ws.send_str(json.dumps(await self._outgoing.get()))

    def _fail(self, error: APIError) -> None:
        self._inputs.put_nowait(error)
        for queue in [*self._waiting, *(q for q, _ in self._responses.values())]:
            queue.put_nowait(error)
        self._waiting.clear()
        self._responses.clear()

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        key = self._model._key
        async for event in json_messages(ws, "openai", key, what="realtime event"):
            kind = event.get("type")
            if not isinstance(kind, str):
                raise APIError("openai: malformed realtime event (no type)",
                               body=key.scrub(json.dumps(event)[:200]))
            self._event(kind, event)

    def _event(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "input_audio_buffer.speech_started":
            self._inputs.put_nowait(RealtimeInput("speech_started",
                                                  event.get("audio_start_ms", 0) / 1000,
                                                  item_id=str(event.get("item_id", ""))))
        elif kind == "input_audio_buffer.speech_stopped":
            self._inputs.put_nowait(RealtimeInput("speech_stopped",
                                                  event.get("audio_end_ms", 0) / 1000,
                                                  item_id=str(event.get("item_id", ""))))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._inputs.put_nowait(RealtimeInput(
                "transcript", transcript=str(event.get("transcript", "")).strip(),
                item_id=str(event.get("item_id", ""))))
        elif kind == "response.created":
            if self._waiting:
                rid = str(event["response"]["id"])
                self._responses[rid] = (self._waiting.popleft(), PCMChunker(_RATE))
        elif kind.startswith("response."):
            self._response_event(kind, event)
        elif kind == "error":
            error = event.get("error") or {}
            code = str(error.get("code") or "")
            logger.warning("realtime error event", extra={"code": code})
            if code not in ("response_cancel_not_active", "item_truncate_invalid_item_id"):
                failure = status_error("openai", 400, {}, json.dumps({"error": error}),
                                       self._model._key)
                if self._waiting:
                    self._waiting.popleft().put_nowait(failure)

    def _response_event(self, kind: str, event: dict[str, Any]) -> None:
        rid = str(event.get("response_id") or (event.get("response") or {}).get("id") or "")
        entry = self._responses.get(rid)
        if entry is None:
            return
        queue, pcm = entry
        item_id = str(event.get("item_id", ""))
        if kind == "response.audio.delta":
            try:
                data = base64.b64decode(event.get("delta", ""), validate=True)
            except (ValueError, TypeError):
                queue.put_nowait(APIError("openai: malformed realtime audio (not base64)"))
                return
            frame = pcm.push(data)
            if frame is not None:
                queue.put_nowait(RealtimeOutput(item_id, audio=frame))
        elif kind == "response.audio_transcript.delta":
            queue.put_nowait(RealtimeOutput(item_id, text=str(event.get("delta", ""))))
        elif kind == "response.function_call_arguments.done":
            queue.put_nowait(RealtimeOutput(item_id, call_id=str(event.get("call_id", "")),
                                            name=str(event.get("name", "")),
                                            arguments=str(event.get("arguments", ""))))
        elif kind == "response.done":
            response = event.get("response") or {}
            usage = response.get("usage") or {}
            if response.get("status") == "failed":
                detail = json.dumps({"message": str(response.get("status_details"))})
                queue.put_nowait(status_error("openai", 500, {}, detail, self._model._key))
            else:
                queue.put_nowait(RealtimeOutput(usage=TokenUsage(
                    prompt_tokens=int(usage.get("input_tokens") or 0),
                    completion_tokens=int(usage.get("output_tokens") or 0))))
                queue.put_nowait(None)
            del self._responses[rid]
