"""Graph validation: every error names the node and the port at fault, in attributes and text."""

from __future__ import annotations

from typing import Any

import pytest

from flowagents.graph import (
    CycleError,
    DuplicateNodeError,
    FeedbackUnboundError,
    Graph,
    GraphValidationError,
    In,
    InputAlreadyConnectedError,
    Node,
    Out,
    RequiredInputError,
    TypeMismatchError,
    UnknownPortError,
)


class Numbers(Node):
    kind = "source"
    outputs = (Out("out", int),)


class Double(Node):
    inputs = (In("x", int),)
    outputs = (Out("y", int),)


class Upper(Node):
    inputs = (In("s", str),)
    outputs = (Out("t", str),)


class Join(Node):
    inputs = (In("a", int), In("b", int, required=False))
    outputs = (Out("y", int),)


def raised(graph: Graph) -> GraphValidationError:
    with pytest.raises(GraphValidationError) as info:
        graph.validate()
    return info.value


def test_a_well_formed_graph_with_a_bound_feedback_validates() -> None:
    with Graph("ok") as g:
        loop = g.feedback("loop", int)
        y = Join()(Numbers()(), loop)
        loop.bind(Double()(y))
    g.validate()
    assert g.problems() == []


def test_unknown_input_port_names_node_and_port() -> None:
    with Graph("g") as g:
        Numbers()()
        g.add(Double())
    g.connect("numbers.out", "double.nope")
    error = raised(g)
    assert isinstance(error, UnknownPortError)
    assert (error.node, error.port) == ("double", "nope")
    assert "'double' has no input port 'nope'" in str(error)
    assert "inputs: x" in str(error)


def test_unknown_output_port_names_node_and_port() -> None:
    with Graph("g") as g:
        Numbers()()
        g.add(Double())
    g.connect("numbers.missing", "double.x")
    error = raised(g)
    assert isinstance(error, UnknownPortError)
    assert (error.node, error.port) == ("numbers", "missing")
    assert "'numbers' has no output port 'missing'" in str(error)


def test_type_mismatch_names_the_target_port_and_both_types() -> None:
    with Graph("g") as g:
        Upper()(Numbers()())
    error = raised(g)
    assert isinstance(error, TypeMismatchError)
    assert (error.node, error.port) == ("upper", "s")
    assert "numbers.out -> upper.s" in str(error)
    assert "int does not fit input of type str" in str(error)


def test_unconnected_required_input_is_named() -> None:
    with Graph("g") as g:
        Join()(Numbers()())  # b is optional: fine
        g.add(Double())
    error = raised(g)
    assert isinstance(error, RequiredInputError)
    assert (error.node, error.port) == ("double", "x")
    assert "required input double.x is not connected" in str(error)


def test_duplicate_node_name_is_refused_when_added() -> None:
    g = Graph("g")
    g.add(Double(), "twice")
    with pytest.raises(DuplicateNodeError) as info:
        g.add(Upper(), "twice")
    assert (info.value.node, info.value.port) == ("twice", None)
    assert "already has a node named 'twice'" in str(info.value)


def test_a_cycle_without_feedback_is_refused_and_named() -> None:
    g = Graph("g")
    g.add(Join(), "a")
    g.add(Double(), "b")
    g.connect("a.y", "b.x")
    g.connect("b.y", "a.a")
    error = raised(g)
    assert isinstance(error, CycleError)
    assert error.node == "a"
    assert "cycle without a feedback edge through a -> b" in str(error)


def test_the_same_cycle_through_a_feedback_edge_is_fine() -> None:
    g = Graph("g")
    g.add(Join(), "a")
    g.add(Double(), "b")
    g.connect("a.y", "b.x")
    g.connect("b.y", "a.a", feedback=True)
    g.validate()


def test_an_unbound_feedback_names_its_consumer() -> None:
    with Graph("g") as g:
        loop = g.feedback("agent_speaking", int)
        Join()(Numbers()(), loop)
    error = raised(g)
    assert isinstance(error, FeedbackUnboundError)
    assert (error.node, error.port) == ("join", "b")
    assert "feedback 'agent_speaking' feeds join.b but is never bound" in str(error)


def test_an_input_fed_twice_names_the_input_and_both_sources() -> None:
    with Graph("g") as g:
        one, two = Numbers()(), Numbers()()
        double = Double()(one)
    g.connect(two, "double.x")
    error = raised(g)
    assert isinstance(error, InputAlreadyConnectedError)
    assert (error.node, error.port) == ("double", "x")
    assert "input double.x is fed twice: by numbers.out and by numbers_2.out" in str(error)
    assert double.ref.node == "double"


def test_validate_raises_the_first_problem_and_lists_all() -> None:
    with Graph("g") as g:
        Upper()(Numbers()())
        g.add(Double())
    error = raised(g)
    kinds: list[Any] = [(type(p), p.node, p.port) for p in error.problems]
    assert kinds == [(TypeMismatchError, "upper", "s"), (RequiredInputError, "double", "x")]
    assert "and 1 more" in str(error)


def test_problems_inside_a_subgraph_are_named_by_path() -> None:
    with Graph("inner") as inner:
        inner.output("t", Upper()(inner.input("n", int)))
    with Graph("outer") as g:
        inner(Numbers()())
    error = raised(g)
    assert isinstance(error, TypeMismatchError)
    assert (error.node, error.port) == ("inner/upper", "s")
    assert "in subgraph 'inner'" in str(error)


def test_a_valid_graph_is_checked_again_once_it_changes() -> None:
    """``validate`` keeps its answer while the graph is unchanged (every session of a shared
    graph validates it), and any change through the graph's methods, here or in a subgraph,
    asks again."""
    with Graph("g") as g:
        Double()(Numbers()())
    g.validate()
    g.validate()
    order = g.topological_order()
    assert order == ["numbers", "double"]
    order.append("not kept")  # a copy: the kept order does not change
    assert g.topological_order() == ["numbers", "double"]
    g.add(Upper())
    error = raised(g)
    assert (type(error), error.node, error.port) == (RequiredInputError, "upper", "s")
    g.remove_node("upper")
    g.validate()

    with Graph("inner") as inner:
        inner.output("y", Double()(inner.input("n", int)))
    with Graph("outer") as outer:
        inner(Numbers()())
    outer.validate()
    inner.add(Upper())  # the subgraph changes: the graph holding it is checked again
    error = raised(outer)
    assert (error.node, error.port) == ("inner/upper", "s")
