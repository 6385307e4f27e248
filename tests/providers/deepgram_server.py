"""A local server that speaks Deepgram's live transcription WebSocket (``/v1/listen``).

It "recognizes" by loudness, which is enough to drive a real client through the protocol: audio
above a threshold is speech. When speech starts it sends ``SpeechStarted`` (with
``vad_events=true``); every ``interim_every`` seconds of speech an interim ``Results`` with the
next words of the scripted utterance (``utterances``, or "hello world" by default); after
``endpointing`` ms of silence (or on ``Finalize``, or ``CloseStream``) a final ``Results``
(``speech_final`` when it ends the speech, ``from_finalize`` when asked for) followed by
``UtteranceEnd``. Times (``start``, ``duration``) are in seconds of audio received. ``KeepAlive``
is recorded and answers nothing; ``CloseStream`` makes it send what is pending, a ``Metadata``
message, and close. Per-connection faults (:class:`StreamFault`) break it on purpose; a
:class:`~providers.base.Fault` refuses or delays the handshake.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from .base import Fault, LocalServer

__all__ = ["DeepgramServer", "Fault", "StreamFault"]


@dataclass
class StreamFault:
    """Break one connection: after ``after`` messages sent, drop the TCP connection
    (``drop``), send a frame that is not JSON (``malformed``), or close with ``close_code``."""

    after: int = 1
    drop: bool = False
    malformed: bool = False
    close_code: int | None = None
    reason: str = ""


class DeepgramServer(LocalServer):
    provider = "deepgram"

    def __init__(self, api_key: str = "dg-test-key-0123", *, threshold: int = 500,
                 interim_every: float = 0.3) -> None:
        super().__init__(api_key)
        self.utterances: deque[str] = deque()
        self.handshakes: deque[Fault] = deque()
        self.stream_faults: deque[StreamFault | None] = deque()
        self.threshold = threshold
        self.interim_every = interim_every
        self.received: list[tuple[str, Any]] = []  # ("audio", bytes) or ("control", message)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/listen", self._listen), web.post("/v1/listen", self._prerecorded)]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1/listen"

    async def _prerecorded(self, request: web.Request) -> web.StreamResponse:
        audio = await request.read()
        self.record("prerecorded", {**dict(request.query), "bytes": len(audio)}, request.headers)
        if request.headers.get("Authorization") != f"Token {self.api_key}":
            return web.json_response({"err_code": "INVALID_AUTH",
                                      "err_msg": "Invalid credentials."}, status=401)
        text = self.utterances.popleft() if self.utterances else "hello world"
        return web.json_response({
            "metadata": {"request_id": "dg-batch-1", "duration": 0.0},
            "results": {"channels": [{"alternatives": [{"transcript": text,
                                                        "confidence": 0.97}]}]}})

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        self.record("listen", dict(request.query), request.headers)
        fault = self.handshakes.popleft() if self.handshakes else None
        if fault is not None:
            return await fault.respond(request, server=self)
        if request.headers.get("Authorization") != f"Token {self.api_key}":
            return web.json_response(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.",
                 "request_id": "dg-req-401"}, status=401, headers={"dg-request-id": "dg-req-401"})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = _Session(self, ws, request, self.stream_faults.popleft()
                           if self.stream_faults else None)
        with self.watch_close():
            await session.run()
        return ws


class _Session:
    """One connection's recognizer state (see the module docstring)."""

    def __init__(self, server: DeepgramServer, ws: web.WebSocketResponse,
                 request: web.Request, fault: StreamFault | None) -> None:
        self.server, self.ws, self.request, self.fault = server, ws, request, fault
        query = request.query
        self.rate = int(query.get("sample_rate", "16000"))
        self.channels = int(query.get("channels", "1"))
        self.interim = query.get("interim_results") == "true"
        self.vad_events = query.get("vad_events") == "true"
        self.endpointing = float(query.get("endpointing", "300")) / 1000
        self.request_id = str(uuid.uuid4())
        self.heard = 0.0  # seconds of audio received
        self.speech_start: float | None = None
        self.last_loud = 0.0
        self.words: list[str] = []
        self.said = 0  # words sent in interim results of this utterance
        self.next_interim = 0.0
        self.sent = 0

    async def send(self, message: dict[str, Any]) -> bool:
        """Send ``message`` unless the scripted fault fires first; False once broken."""
        fault = self.fault
        if fault is not None and self.sent >= fault.after:
            self.fault = None
            if fault.drop:
                LocalServer.drop(self.request)
                return False
            if fault.malformed:
                await self.ws.send_str('{"type": "Results", "channel": {"alternat')
            if fault.close_code is not None:
                await self.ws.close(code=fault.close_code, message=fault.reason.encode())
                return False
        self.sent += 1
        await self.ws.send_str(json.dumps(message))
        return True

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                self.server.received.append(("audio", msg.data))
                if not await self.audio(msg.data):
                    return
            elif msg.type == WSMsgType.TEXT:
                control = json.loads(msg.data)
                self.server.received.append(("control", control))
                kind = control.get("type")
                if kind == "Finalize" and not await self.final(from_finalize=True):
                    return
                if kind == "CloseStream":
                    await self.final(from_finalize=False)
                    await self.send({"type": "Metadata", "request_id": self.request_id,
                                     "duration": self.heard, "channels": self.channels})
                    await self.ws.close()
                    return
        # the client went away without CloseStream
        self.server.closed_at.append(asyncio.get_running_loop().time())

    async def audio(self, data: bytes) -> bool:
        pcm = np.frombuffer(data, dtype="<i2")
        seconds = len(pcm) / (self.rate * self.channels)
        loud = bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) > self.server.threshold
        start, self.heard = self.heard, self.heard + seconds
        if loud:
            self.last_loud = self.heard
            if self.speech_start is None:
                self.speech_start = start
                self.words = (self.server.utterances.popleft() if self.server.utterances
                              else "hello world").split()
                self.said = 0
                self.next_interim = start + self.server.interim_every
                if self.vad_events and not await self.send(
                        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": start}):
                    return False
        if self.speech_start is None:
            return True
        if self.interim and self.heard >= self.next_interim and self.said < len(self.words):
            self.next_interim += self.server.interim_every
            self.said += 1
            if not await self.results(" ".join(self.words[:self.said]), is_final=False):
                return False
        if self.heard - self.last_loud >= self.endpointing:
            return await self.final(from_finalize=False, speech_final=True)
        return True

    async def final(self, *, from_finalize: bool, speech_final: bool = False) -> bool:
        if self.speech_start is None:
            return True
        text = " ".join(self.words)
        ok = await self.results(text, is_final=True, speech_final=speech_final,
                                from_finalize=from_finalize)
        self.speech_start = None
        if ok and speech_final:
            ok = await self.send({"type": "UtteranceEnd", "channel": [0, 1],
                                  "last_word_end": self.last_loud})
        return ok

    async def results(self, text: str, *, is_final: bool, speech_final: bool = False,
                      from_finalize: bool = False) -> bool:
        start = self.speech_start or 0.0
        return await self.send({
            "type": "Results", "channel_index": [0, 1], "start": start,
            "duration": self.heard - start, "is_final": is_final, "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.98,
                                          "words": []}]},
            "metadata": {"request_id": self.request_id, "model_info": {"name": "nova-3"}}})
