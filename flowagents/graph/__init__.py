"""The graph model: nodes with typed ports, graphs of them, validation, specs and pictures.

Specs (pydantic models, YAML) and pictures (networkx, pygraphviz) load when one of their names
is first read: a process that only runs sessions never imports them (about 18 MiB of RSS).
"""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    CycleError,
    DuplicateNodeError,
    FeedbackUnboundError,
    GraphError,
    GraphValidationError,
    InputAlreadyConnectedError,
    NodeError,
    RequiredInputError,
    SpecError,
    TypeMismatchError,
    UnknownNodeError,
    UnknownPortError,
)
from .graph import Edge, FeedbackPort, Graph, GraphInput, GraphOutput, Subgraph
from .node import BuildContext, Node, NodeConfig, OutPort, Outputs, current_graph
from .ports import ANY, In, Out, PortDecl, PortRef, register_type, resolve_type, type_name

if TYPE_CHECKING:
    from .render import to_dot, to_image, to_svg
    from .spec import (
        graph_from_json,
        graph_from_spec,
        graph_from_yaml,
        graph_to_json,
        graph_to_spec,
        graph_to_yaml,
    )

_LAZY = {
    **dict.fromkeys(("to_dot", "to_image", "to_svg"), "render"),
    **dict.fromkeys(("graph_from_json", "graph_from_spec", "graph_from_yaml", "graph_to_json",
                     "graph_to_spec", "graph_to_yaml"), "spec"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def _svg(graph: Graph) -> str:
    """How a notebook draws a graph before the picture module is loaded: it loads it."""
    from .render import to_svg as draw

    return draw(graph)


if Graph.svg_renderer is None:
    Graph.svg_renderer = _svg

__all__ = [
    "ANY", "BuildContext", "CycleError", "DuplicateNodeError", "Edge", "FeedbackPort",
    "FeedbackUnboundError", "Graph", "GraphError", "GraphInput", "GraphOutput",
    "GraphValidationError", "In", "InputAlreadyConnectedError", "Node", "NodeConfig", "NodeError",
    "Out", "OutPort", "Outputs", "PortDecl", "PortRef", "RequiredInputError", "SpecError",
    "Subgraph", "TypeMismatchError", "UnknownNodeError", "UnknownPortError", "current_graph",
    "graph_from_json", "graph_from_spec", "graph_from_yaml", "graph_to_json", "graph_to_spec",
    "graph_to_yaml", "register_type", "resolve_type", "to_dot", "to_image", "to_svg", "type_name",
]
