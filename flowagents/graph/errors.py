"""Typed errors for building, validating, loading and running graphs.

Every error names its culprit (a node, a port, a spec location) in its attributes and its text,
so that a user, a test or a tool can act on it without parsing the message.
"""

from __future__ import annotations

__all__ = [
    "CycleError",
    "DuplicateNodeError",
    "FeedbackUnboundError",
    "GraphError",
    "GraphValidationError",
    "InputAlreadyConnectedError",
    "NodeError",
    "RequiredInputError",
    "SpecError",
    "TypeMismatchError",
    "UnknownNodeError",
    "UnknownPortError",
]


class GraphError(Exception):
    """Base of every graph error."""


class GraphValidationError(GraphError):
    """A graph that must not run. ``node`` and ``port`` name the culprit where there is one.

    When a graph has several problems, :meth:`Graph.validate` raises the first and lists all of
    them in ``problems``.
    """

    def __init__(self, message: str, *, node: str | None = None, port: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.port = port
        self.problems: list[GraphValidationError] = [self]


class DuplicateNodeError(GraphValidationError):
    pass


class UnknownNodeError(GraphValidationError):
    pass


class UnknownPortError(GraphValidationError):
    pass


class TypeMismatchError(GraphValidationError):
    pass


class RequiredInputError(GraphValidationError):
    pass


class InputAlreadyConnectedError(GraphValidationError):
    pass


class CycleError(GraphValidationError):
    pass


class FeedbackUnboundError(GraphValidationError):
    pass


class SpecError(GraphError):
    """A graph spec that cannot be loaded. ``location`` is a path such as ``nodes[3].config``."""

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


class NodeError(GraphError):
    """A node failed while the graph ran (or while it was built); the cause is chained."""

    def __init__(self, node: str, port: str | None, cause: BaseException) -> None:
        where = f"{node}.{port}" if port else node
        super().__init__(f"node {where} failed: {type(cause).__name__}: {cause}")
        self.node = node
        self.port = port
        self.cause = cause
        self.__cause__ = cause
