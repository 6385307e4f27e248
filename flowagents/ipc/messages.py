"""Typed messages between the worker and its job and inference processes.

Every message is a small frozen pydantic model with a literal ``kind`` tag, so the channel can
decode any frame into the right class with one discriminated-union adapter and reject anything
else. Bytes fields (a serialized protobuf job, inference payloads) travel base64-encoded inside the
JSON frame.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AcceptArguments",
    "InferenceRequest",
    "InferenceResponse",
    "InitializeRequest",
    "InitializeResponse",
    "InspectWatch",
    "JobDone",
    "JobMetrics",
    "JobStarted",
    "LogRecordMessage",
    "Message",
    "MESSAGE_ADAPTER",
    "NodeSample",
    "PingRequest",
    "PongResponse",
    "SessionSample",
    "SessionsReport",
    "ShutdownRequest",
    "StartJobRequest",
]


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")


class AcceptArguments(BaseModel):
    """How the agent joins the room, as chosen by ``request_fnc`` when it accepted the job."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    identity: str = ""
    metadata: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)


class InitializeRequest(_Msg):
    """Parent -> process: run ``prewarm_fnc`` and report when ready."""

    kind: Literal["initialize"] = "initialize"
    log_level: int = 20
    inspect: bool = False  # count per-node values in sessions: the worker serves the live view


class InitializeResponse(_Msg):
    """Process -> parent: prewarm finished (``error`` set when it raised)."""

    kind: Literal["initialized"] = "initialized"
    error: str | None = None


class PingRequest(_Msg):
    """Parent -> process: health check; the process must answer with a pong."""

    kind: Literal["ping"] = "ping"
    timestamp: float


class PongResponse(_Msg):
    """Process -> parent: answer to a ping, echoing its timestamp."""

    kind: Literal["pong"] = "pong"
    last_timestamp: float
    timestamp: float


class StartJobRequest(_Msg):
    """Parent -> process: run the entrypoint for this job (the process runs exactly one job)."""

    kind: Literal["start_job"] = "start_job"
    job: bytes  # a serialized livekit.protocol.agent.Job
    url: str
    token: str = Field(repr=False)
    accept: AcceptArguments = Field(default_factory=AcceptArguments)
    worker_id: str = ""


class JobStarted(_Msg):
    """Process -> parent: the entrypoint is about to run (wall clock, for latency metrics)."""

    kind: Literal["job_started"] = "job_started"
    started_at: float


class ShutdownRequest(_Msg):
    """Parent -> process: end the job (server termination, drain, worker exit)."""

    kind: Literal["shutdown"] = "shutdown"
    reason: str = ""


class JobDone(_Msg):
    """Process -> parent: the job ended; ``error`` is set when the entrypoint failed."""

    kind: Literal["job_done"] = "job_done"
    error: str | None = None


class InferenceRequest(_Msg):
    """Job -> worker -> inference process: run ``method`` on ``data``."""

    kind: Literal["inference_request"] = "inference_request"
    request_id: str
    method: str
    data: bytes


class InferenceResponse(_Msg):
    """Inference process -> worker -> job: the result of one request."""

    kind: Literal["inference_response"] = "inference_response"
    request_id: str
    data: bytes | None = None
    error: str | None = None


class LogRecordMessage(_Msg):
    """Job -> worker: one log record, re-emitted by the worker's logging with the job's fields."""

    kind: Literal["log"] = "log"
    name: str
    level: int
    message: str
    created: float
    exc_text: str | None = None
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class JobMetrics(_Msg):
    """Job -> worker: latency figures of one voice metrics event, in seconds by name.

    Names: ``llm_ttft``, ``llm_duration``, ``tts_ttfb``, ``tts_duration``, ``stt_duration``,
    ``eou_delay``, ``transcription_delay`` (only those the event carries).
    """

    kind: Literal["job_metrics"] = "job_metrics"
    values: dict[str, float]


class InspectWatch(_Msg):
    """Worker -> job: someone watches the live graph view, so report the sessions every
    ``interval`` seconds (from now, graphs included), or nobody does (``interval`` 0)."""

    kind: Literal["inspect_watch"] = "inspect_watch"
    interval: float = Field(default=0.0, ge=0.0)


class NodeSample(BaseModel):
    """One node of a running graph: values so far, per second lately, the last one (a short,
    safe text), seconds since it, and milliseconds of its own work."""

    model_config = ConfigDict(frozen=True)

    values: int
    rate: float
    last: str = Field(max_length=200)
    age: float | None
    spent_ms: float


class SessionSample(BaseModel):
    """One running session: its states and nodes; its graph once (in the first report that has
    the session after a watch began), which the worker draws when the page asks: as a graph
    spec (JSON, :mod:`flowagents.graph.spec`), or as DOT text when it has no spec."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[\w.-]{1,64}$")  # a name in the page's URLs
    agent_state: str
    user_state: str
    nodes: dict[str, NodeSample]
    graph_spec: str | None = None
    graph_dot: str | None = None


class SessionsReport(_Msg):
    """Job -> worker: every session running in the process now (one missing has ended)."""

    kind: Literal["inspect_sessions"] = "inspect_sessions"
    job_id: str = ""
    room: str = ""
    sessions: list[SessionSample] = Field(default_factory=list)


Message = Annotated[
    InitializeRequest
    | InitializeResponse
    | PingRequest
    | PongResponse
    | StartJobRequest
    | JobStarted
    | ShutdownRequest
    | JobDone
    | InferenceRequest
    | InferenceResponse
    | LogRecordMessage
    | JobMetrics
    | InspectWatch
    | SessionsReport,
    Field(discriminator="kind"),
]

MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
