"""Function tools: Python functions an LLM can call, their JSON schemas, and safe execution.

``@function_tool`` turns a function (or an ``Agent`` method) into a :class:`FunctionTool` whose
parameter schema pydantic builds from the type hints, with descriptions from the docstring
(Google-style ``Args:``) or ``Annotated[..., Field(description=...)]``. A parameter annotated
:class:`RunContext` is injected by the session and hidden from the model.

:func:`execute_function_call` runs one call the model asked for and always returns a result the
model can read: an unknown tool, arguments that do not validate, a :class:`ToolError` or any other
exception become an error output, so a bad tool call never crashes the session and an exception's
text (which may hold internals or secrets) never reaches the model.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import inspect
import json
import logging
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from .chat_context import FunctionCall, FunctionCallOutput

__all__ = [
    "FunctionTool",
    "HandoffTarget",
    "RawFunctionTool",
    "RunContext",
    "ToolError",
    "ToolExecution",
    "current_run_context",
    "execute_function_call",
    "find_function_tools",
    "function_tool",
]

logger = logging.getLogger("flowagents.llm")

UserdataT = TypeVar("UserdataT")
INTERNAL_ERROR = "An internal error occurred"


class HandoffTarget:
    """What a tool returns (alone or as ``(target, result)``) to hand the conversation over.

    ``flowagents.voice.Agent`` derives from it, so any agent, including a user's subclass in any
    module, is recognised by ``isinstance`` without this package importing the voice package.
    """

    __slots__ = ()


class ToolError(Exception):
    """Raised by a tool to tell the model what went wrong; ``message`` is shown to the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RunContext(Generic[UserdataT]):
    """What a running tool may need from the session: the session, the reply, the call itself."""

    __slots__ = ("function_call", "session", "speech_handle")

    def __init__(self, *, session: Any, speech_handle: Any, function_call: FunctionCall) -> None:
        self.session = session
        self.speech_handle = speech_handle
        self.function_call = function_call

    @property
    def userdata(self) -> UserdataT:
        """The session's user data (``AgentSession(userdata=...)``)."""
        return typing.cast(UserdataT, self.session.userdata)


_running: contextvars.ContextVar[RunContext[Any] | None] = contextvars.ContextVar(
    "flowagents_run_context", default=None)


def current_run_context() -> RunContext[Any] | None:
    """The context of the tool running in this task, if any: lets the session tell a call made
    from inside a tool (``session.stop()`` in a handoff tool) from one made outside."""
    return _running.get()


# --- docstrings ------------------------------------------------------------------------------

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|Attributes)\s*:\s*$",
    re.IGNORECASE,
)
_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary (text before the first section) and per-argument descriptions.

    Reads Google style (``Args:`` with ``name (type): text``, continuation lines indented) and
    reST (``:param name: text``).
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = -1
    for line in lines:
        stripped = line.strip()
        m = _SECTION.match(stripped)
        if m and not line.startswith(" "):
            section = m.group(1).lower()
            current = None
            arg_indent = -1
            continue
        rest = _REST_PARAM.match(stripped)
        if rest:
            section, current = "rest", rest.group(1)
            args[current] = rest.group(2).strip()
            continue
        if section is None:
            summary.append(line)
            continue
        if section in ("args", "arguments", "parameters", "params") and stripped:
            indent = len(line) - len(line.lstrip())
            am = _ARG.match(stripped)
            if am and (arg_indent < 0 or indent <= arg_indent):
                arg_indent = indent
                current = am.group(1).lstrip("*")
                args[current] = am.group(2).strip()
            elif current is not None:
                args[current] = f"{args[current]} {stripped}".strip()
        elif section == "rest" and stripped and current is not None and line.startswith(" "):
            args[current] = f"{args[current]} {stripped}".strip()
    return "\n".join(summary).strip(), args


# --- schema ----------------------------------------------------------------------------------


def _is_run_context(annotation: Any) -> bool:
    target = typing.get_origin(annotation) or annotation
    if target is typing.Annotated:
        return _is_run_context(typing.get_args(annotation)[0])
    return isinstance(target, type) and issubclass(target, RunContext)


def _has_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)


def _clean_schema(schema: Any, *, in_properties: bool = False) -> Any:
    """Drop pydantic's generated ``title`` keys (noise in a prompt); keep property names."""
    if isinstance(schema, dict):
        return {
            k: _clean_schema(v, in_properties=(k in ("properties", "$defs")) and not in_properties)
            for k, v in schema.items()
            if in_properties or k != "title"
        }
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _looks_like_method(fn: Callable[..., Any]) -> bool:
    """Defined in a class body: the qualname's enclosing scope is a class, not ``<locals>``."""
    parts = getattr(fn, "__qualname__", "").split(".")
    params = list(inspect.signature(fn).parameters)
    return len(parts) > 1 and parts[-2] != "<locals>" and bool(params) and params[0] == "self"


@dataclass(slots=True)
class _Spec:
    """What a tool is, shared by all of its bound copies."""

    fn: Callable[..., Any]
    name: str
    description: str
    is_method: bool
    context_param: str | None = None
    args_model: type[BaseModel] | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    raw_schema: dict[str, Any] | None = None


def _build_spec(spec: _Spec) -> None:
    """Read the signature and type hints into an arguments model and its JSON schema."""
    fn = spec.fn
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as e:
        raise TypeError(
            f"function tool {spec.name!r}: cannot resolve the type hint {e.name!r}"
        ) from None
    _, arg_docs = _parse_docstring(fn.__doc__)
    fields: dict[str, Any] = {}
    params = list(inspect.signature(fn).parameters.values())
    if spec.is_method:
        params = params[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"function tool {spec.name!r}: *args/**kwargs are not supported")
        annotation = hints.get(p.name, Any)
        if _is_run_context(annotation):
            spec.context_param = p.name
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        if isinstance(default, FieldInfo):
            fields[p.name] = (annotation, default)
            continue
        description = arg_docs.get(p.name)
        if description is None or _has_description(annotation):  # Annotated's Field wins
            fields[p.name] = (annotation, default)
        else:
            fields[p.name] = (annotation, Field(default, description=description))
    model = create_model(f"{spec.name}_args", **fields)
    spec.args_model = model
    spec.parameters = _clean_schema(model.model_json_schema())
    spec.parameters.setdefault("properties", {})


# --- tools -----------------------------------------------------------------------------------


class FunctionTool:
    """A tool the model can call. Calling it calls the function (awaitable when it is async).

    Defined on a class, it binds to the instance it is read from (like a method), so
    ``agent.get_weather`` is a tool whose function receives ``agent`` as ``self``.
    """

    __slots__ = ("_bound", "_spec")

    def __init__(self, spec: _Spec, bound: Any = None) -> None:
        self._spec = spec
        self._bound = bound

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def description(self) -> str:
        return self._spec.description

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (an ``object`` schema)."""
        if self._spec.args_model is None:
            _build_spec(self._spec)
        return self._spec.parameters

    @property
    def fn(self) -> Callable[..., Any]:
        return self._spec.fn

    def openai_schema(self) -> dict[str, Any]:
        """The tool as an OpenAI chat-completions ``tools`` entry."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def __get__(self, instance: Any, owner: type | None = None) -> FunctionTool:
        if instance is None or not self._spec.is_method:
            return self
        return type(self)(self._spec, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._spec.is_method:
            if self._bound is None:
                raise TypeError(f"function tool {self.name!r} is a method: use it via an instance")
            return self._spec.fn(self._bound, *args, **kwargs)
        return self._spec.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _arguments(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments (raises ValidationError)."""
        if self._spec.args_model is None:
            _build_spec(self._spec)
        model = typing.cast(type[BaseModel], self._spec.args_model)
        validated = model.model_validate(raw)
        return {name: getattr(validated, name) for name in type(validated).model_fields}

    @property
    def _context_param(self) -> str | None:
        if self._spec.args_model is None and self._spec.raw_schema is None:
            _build_spec(self._spec)
        return self._spec.context_param


class RawFunctionTool(FunctionTool):
    """A tool whose schema is given as is (``{"name", "description", "parameters"}``).

    Its function receives the parsed arguments as ``raw_arguments: dict`` (plus an injected
    :class:`RunContext` if it declares one); only the schema's ``required`` keys are checked.
    """

    __slots__ = ()

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(typing.cast(dict[str, Any], self._spec.raw_schema).get("parameters") or {
            "type": "object", "properties": {}})

    @property
    def raw_schema(self) -> dict[str, Any]:
        return typing.cast(dict[str, Any], self._spec.raw_schema)

    def _arguments(self, raw: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in self.parameters.get("required", []) if k not in raw]
        if missing:
            raise _MissingArguments(missing)
        return {"raw_arguments": raw}

    @property
    def _context_param(self) -> str | None:
        return self._spec.context_param


class _MissingArguments(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__("; ".join(f"{n}: Field required" for n in names))


@overload
def function_tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def function_tool(
    *, name: str | None = None, description: str | None = None,
    raw_schema: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
    description: str | None = None, raw_schema: dict[str, Any] | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a function (sync or async, or a method of an ``Agent``) callable by the LLM.

    Usable bare (``@function_tool``) or with options. ``name`` defaults to the function's name,
    ``description`` to the docstring's summary. ``raw_schema`` skips schema generation.
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        if isinstance(f, FunctionTool):
            raise TypeError("function_tool applied twice")
        summary, _ = _parse_docstring(f.__doc__)
        if raw_schema is not None:
            if "name" not in raw_schema and name is None:
                raise TypeError("raw_schema needs a 'name'")
            schema = dict(raw_schema)
            schema["name"] = name or schema["name"]
            if description is not None:
                schema["description"] = description
            spec = _Spec(fn=f, name=schema["name"], description=schema.get("description", ""),
                         is_method=_looks_like_method(f), raw_schema=schema)
            spec.context_param = _raw_context_param(f)
            return RawFunctionTool(spec)
        spec = _Spec(fn=f, name=name or f.__name__,
                     description=summary if description is None else description,
                     is_method=_looks_like_method(f))
        try:
            _build_spec(spec)
        except TypeError:
            if not spec.is_method:  # a method's hints may name its class, defined later
                raise
        return FunctionTool(spec)

    return wrap if fn is None else wrap(fn)


def _raw_context_param(fn: Callable[..., Any]) -> str | None:
    try:
        hints = typing.get_type_hints(fn)
    except NameError:
        return None
    return next((n for n, a in hints.items() if n != "return" and _is_run_context(a)), None)


def find_function_tools(obj: Any) -> list[FunctionTool]:
    """The tools defined on ``obj``'s class (and its bases), bound to ``obj``, in definition
    order; a subclass's tool overrides a base's tool of the same attribute name."""
    found: dict[str, FunctionTool] = {}
    for cls in reversed(type(obj).__mro__):
        for attr, value in vars(cls).items():
            if isinstance(value, FunctionTool):
                found.pop(attr, None)
                found[attr] = value.__get__(obj, type(obj))
            elif attr in found:
                del found[attr]  # overridden by something that is not a tool
    return list(found.values())


# --- execution -------------------------------------------------------------------------------


@dataclass(slots=True)
class ToolExecution:
    """The outcome of one tool call.

    ``output`` is what goes back to the model (None only if the call never ran to an answer);
    ``raw_result`` is what the function returned (an ``Agent`` means a handoff); ``exception``
    is what it raised, kept for the session's logs and events, never shown to the model.
    """

    call: FunctionCall
    output: FunctionCallOutput | None
    raw_result: Any = None
    exception: BaseException | None = None

    @property
    def reply_required(self) -> bool:
        """Whether the model should be called again: a tool returning None completes silently."""
        if self.output is None:
            return False
        return self.output.is_error or self.raw_result is not None


def _is_agent(value: Any) -> bool:
    return isinstance(value, HandoffTarget)


def tool_output_text(value: Any) -> str:
    """How a tool's return value is shown to the model.

    ``None`` -> ``""`` (the tool completed silently); a str as is; a pydantic model, dict, list,
    number or bool -> JSON; an enum -> its value; an ``Agent`` (a handoff) -> ``""``;
    ``(agent, value)`` -> the text of ``value``; anything else -> ``str(value)``.
    """
    if value is None or _is_agent(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 2 and _is_agent(value[0]):
        return tool_output_text(value[1])
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, enum.Enum):
        return tool_output_text(value.value)
    if isinstance(value, dict | list | int | float | bool):
        try:
            return json.dumps(value, default=_json_default)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError


def _format_validation_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_input=False, include_url=False):
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else e["msg"])
    return "; ".join(parts)


async def execute_function_call(
    call: FunctionCall,
    tools: Mapping[str, FunctionTool] | Sequence[FunctionTool],
    run_context: RunContext[Any] | None = None,
) -> ToolExecution:
    """Run the tool ``call`` names with its arguments; never raises (except cancellation).

    Errors become outputs with ``is_error``: ``"Unknown function: NAME"``, ``"Invalid arguments
    for function NAME: ARG: PROBLEM"``, a :class:`ToolError`'s message, or ``"An internal error
    occurred"`` for any other exception (logged, kept in ``exception``, never shown).
    """

    def error(text: str, exc: BaseException | None = None) -> ToolExecution:
        out = FunctionCallOutput(call_id=call.call_id, name=call.name, output=text, is_error=True)
        return ToolExecution(call=call, output=out, exception=exc)

    by_name = tools if isinstance(tools, Mapping) else {t.name: t for t in tools}
    tool = by_name.get(call.name)
    if tool is None:
        return error(f"Unknown function: {call.name}")

    invalid = f"Invalid arguments for function {call.name}"
    try:
        raw = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        return error(f"{invalid}: the arguments are not valid JSON")
    if not isinstance(raw, dict):
        return error(f"{invalid}: the arguments must be a JSON object")
    try:
        kwargs = tool._arguments(raw)
    except ValidationError as e:
        return error(f"{invalid}: {_format_validation_error(e)}", e)
    except _MissingArguments as e:
        return error(f"{invalid}: {e}", e)

    try:
        context_param = tool._context_param
        if context_param is not None:
            if run_context is None:
                raise RuntimeError("function tool needs a RunContext")
            kwargs[context_param] = run_context
        token = _running.set(run_context)
        try:
            result = tool(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        finally:
            _running.reset(token)
    except ToolError as e:
        return error(e.message, e)
    except Exception as e:
        logger.exception("error while executing a function tool", extra={"function": call.name})
        return error(INTERNAL_ERROR, e)

    try:
        text = tool_output_text(result)
    except Exception as e:  # a model whose serializer raises, a __str__ that raises
        logger.exception("cannot convert a function tool's result", extra={"function": call.name})
        return error(INTERNAL_ERROR, e)
    out = FunctionCallOutput(call_id=call.call_id, name=call.name, output=text)
    return ToolExecution(call=call, output=out, raw_result=result)
