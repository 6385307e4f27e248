"""The graph model: nodes with typed ports, graphs of them, validation, specs and pictures."""

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
from .render import to_dot, to_image, to_svg
from .spec import (
    graph_from_json,
    graph_from_spec,
    graph_from_yaml,
    graph_to_json,
    graph_to_spec,
    graph_to_yaml,
)

__all__ = [
    "ANY", "BuildContext", "CycleError", "DuplicateNodeError", "Edge", "FeedbackPort",
    "FeedbackUnboundError", "Graph", "GraphError", "GraphInput", "GraphOutput",
    "GraphValidationError", "In", "InputAlreadyConnectedError", "Node", "NodeConfig", "NodeError",
    "Out", "OutPort", "Outputs", "PortDecl", "PortRef", "RequiredInputError", "SpecError",
    "Subgraph", "TypeMismatchError", "UnknownNodeError", "UnknownPortError", "current_graph",
    "graph_from_json", "graph_from_spec", "graph_from_yaml", "graph_to_json", "graph_to_spec",
    "graph_to_yaml", "register_type", "resolve_type", "to_dot", "to_image", "to_svg", "type_name",
]
