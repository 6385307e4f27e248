"""`flowagents graph render|validate`: how targets are named, what is written, and clear errors
for every way a target can fail to be a graph. Also how main.py mounts command modules."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from flowagents.cli.main import app, mount
from flowagents.graph.spec import graph_to_spec, spec_from_json, spec_from_yaml

GRAPHS = '''
from flowagents.graph import Graph, In, Node, Out
from flowagents.graph.spec import register_node


@register_node
class CliDouble(Node):
    inputs = (In("x", int),)
    outputs = (Out("y", int),)


@register_node
class CliUpper(Node):
    inputs = (In("s", str),)
    outputs = (Out("t", str),)


def good():
    with Graph("good") as g:
        g.output("out", CliDouble()(g.input("n", int)))
    return g


def bad():
    with Graph("bad") as g:
        CliUpper()(g.input("n", int))
        g.add(CliDouble())
    return g


def not_a_graph():
    return 42


def broken():
    raise RuntimeError("boom")


A_GRAPH = good()
'''


@pytest.fixture(scope="module")
def graphs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file for the module: its node classes register once, under one module name."""
    path = tmp_path_factory.mktemp("targets") / "cli_graphs.py"
    path.write_text(textwrap.dedent(GRAPHS), encoding="utf-8")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_validate_a_good_graph(graphs_file: Path) -> None:
    result = run("graph", "validate", f"{graphs_file}:good")
    assert result.exit_code == 0, result.output
    assert result.stdout == "graph 'good' is valid: 3 nodes, 2 edges\n"


def test_validate_lists_every_problem_by_node_and_port(graphs_file: Path) -> None:
    result = run("graph", "validate", f"{graphs_file}:bad")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        "error: edge n.out -> cli_upper.s: int does not fit input of type str",
        "error: required input cli_double.x is not connected",
    ]


def test_a_module_on_the_current_directory_and_a_graph_object(
        graphs_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(graphs_file.parent)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "cli_graphs", raising=False)
    result = run("graph", "validate", "cli_graphs:A_GRAPH")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("suffix", "reader"), [(".json", spec_from_json),
                                                (".yaml", spec_from_yaml)])
def test_render_a_spec_by_suffix_and_read_it_back(graphs_file: Path, tmp_path: Path,
                                                  suffix: str, reader: object) -> None:
    out = tmp_path / f"good{suffix}"
    assert run("graph", "render", f"{graphs_file}:good", "-o", str(out)).exit_code == 0
    sys.modules.pop("cli_graphs", None)
    from cli_graphs import good  # type: ignore[import-not-found]

    spec = reader(out.read_text(encoding="utf-8"))  # type: ignore[operator]
    assert spec == graph_to_spec(good())
    again = run("graph", "validate", str(out))  # a spec file is a target too
    assert again.exit_code == 0, again.output


def test_an_explicit_format_wins_over_the_suffix(graphs_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "picture.txt"
    assert run("graph", "render", f"{graphs_file}:good", "-o", str(out), "-f", "dot").exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("digraph good {")


@pytest.mark.parametrize(("target", "message"), [
    ("no_such_module_xyz:graph", "no module named 'no_such_module_xyz'"),
    ("json:no_such_function", "json:no_such_function: 'json' has no attribute "
                              "'no_such_function' (it has: JSONDecodeError, "),
    ("graphs.example", "expected 'module:function' or 'path/to/file.py:function'"),
    ("missing/file.py:graph", "file 'missing/file.py' not found"),
    ("{file}:not_a_graph", "{file}:not_a_graph() returned int, not a Graph"),
    ("{file}:broken", "{file}:broken() failed: RuntimeError: boom"),
    ("json:__doc__", "json:__doc__ is str, not a function returning a Graph"),
    ("missing.yaml", "cannot read spec file 'missing.yaml'"),
])
def test_a_target_that_is_not_a_graph_is_a_clear_error(graphs_file: Path, target: str,
                                                       message: str) -> None:
    target, message = (s.replace("{file}", str(graphs_file)) for s in (target, message))
    result = run("graph", "render", target)
    assert result.exit_code == 2
    assert f"error: {message}" in result.stderr
    assert result.stdout == ""


def test_a_bad_spec_file_names_its_location(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: g\nnodes:\n  - {name: a, type: NoSuchNode}\n", encoding="utf-8")
    result = run("graph", "validate", str(spec))
    assert result.exit_code == 2
    assert "error: invalid spec at nodes[0].type: " in result.stderr
    assert "unknown node type 'NoSuchNode'" in result.stderr


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("flowagents ")
    assert "graph" in run("--help").stdout
    assert "render" in run("graph", "--help").stdout


def sub_app() -> typer.Typer:
    sub = typer.Typer()

    @sub.command()
    def hello() -> None:
        typer.echo("hello")

    @sub.command()
    def bye() -> None:
        typer.echo("bye")

    return sub


def test_mount_adds_groups_and_functions_and_survives_missing_or_broken_modules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_cmds_ok.py").write_text(textwrap.dedent('''
        import typer
        group = typer.Typer()

        @group.command()
        def one():
            typer.echo("one")

        @group.command()
        def two():
            typer.echo("two")

        def console(loud: bool = False):
            typer.echo("CONSOLE" if loud else "console")
    '''), encoding="utf-8")
    (tmp_path / "cli_cmds_broken.py").write_text("import no_such_dependency_xyz\n",
                                                 encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    cli = typer.Typer()

    @cli.callback()
    def main() -> None:
        """A test CLI."""

    mount("grp", "cli_cmds_ok", "group", into=cli)
    mount("console", "cli_cmds_ok", "console", into=cli)
    mount("absent", "cli_cmds_absent_xyz", "anything", into=cli)
    mount("broken", "cli_cmds_broken", "start", into=cli)
    mount("typo", "cli_cmds_ok", "no_such_attr", into=cli)
    runner = CliRunner()
    assert runner.invoke(cli, ["grp", "two"]).stdout == "two\n"
    assert runner.invoke(cli, ["console", "--loud"]).stdout == "CONSOLE\n"
    listing = runner.invoke(cli, ["--help"]).stdout
    assert "absent" not in listing
    assert "broken" in listing
    broken = runner.invoke(cli, ["broken"])
    assert broken.exit_code == 1
    assert "command 'broken' is unavailable: ModuleNotFoundError: No module named " \
           "'no_such_dependency_xyz'" in broken.stderr
    typo = runner.invoke(cli, ["typo"])
    assert typo.exit_code == 1
    assert "AttributeError" in typo.stderr
