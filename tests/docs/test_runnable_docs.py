"""Every code block of the README and ``docs/`` marked runnable runs as printed.

A block is marked by an HTML comment on the line before its fence (invisible when rendered):

- ``<!-- runnable -->`` before a ``python`` block: run as a script (``python block.py``);
- ``<!-- runnable: module -->``: imported as a module (an agent file: what ``if __name__ ==
  "__main__"`` starts is not run, everything else is);
- ``<!-- runnable: pytest -->``: a test file, run by pytest in a bare folder (no project
  config), with pytest-asyncio in strict mode and in auto mode; every test must pass;
- ``<!-- runnable -->`` before a ``bash`` block: run by ``bash -e`` in a fresh folder, with this
  environment's commands (``flowagents``) on the ``PATH``; only cheap, local commands are marked.

Each block runs in a fresh process from its own temporary folder, the repository importable.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARK = re.compile(r"^<!--\s*runnable(?::\s*(\w+))?\s*-->\s*$")
FENCE = re.compile(r"^```(\w+)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    kind: str  # script, module, pytest
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def runnable_blocks(path: Path) -> list[Block]:
    """The marked blocks of one Markdown file; a mark not followed by a fence is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        mark = MARK.match(line)
        if mark is None:
            continue
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if fence is None:
            raise AssertionError(f"{path}:{i + 1}: a runnable mark must precede a ``` fence")
        end = lines.index("```", i + 2)
        blocks.append(Block(path, i + 2, fence.group(1), mark.group(1) or "script",
                            "\n".join(lines[i + 2:end]) + "\n"))
    return blocks


BLOCKS = [block for doc in DOCS for block in runnable_blocks(doc)]


def environment() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


def plugin_args() -> list[str]:
    """``-p`` for flowagents' pytest plugin only when this environment's install predates its
    entry point; a fresh install registers it by itself (what a user gets)."""
    points = importlib.metadata.entry_points(group="pytest11")
    if any(p.value == "flowagents.testing.pytest_plugin" for p in points):
        return []
    return ["-p", "flowagents.testing.pytest_plugin"]


def run(args: list[str], folder: Path, timeout: float = 180.0) -> None:
    done = subprocess.run(args, cwd=folder, env=environment(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, (f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
                                  f"\n--- stderr\n{done.stderr[-4000:]}")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_block_runs_as_printed(block: Block, tmp_path: Path) -> None:
    if block.language == "bash":
        run(["bash", "-euo", "pipefail", "-c", block.code], tmp_path)
        return
    assert block.language == "python", f"{block.name}: cannot run a {block.language} block"
    if block.kind == "pytest":
        (tmp_path / "test_doc_block.py").write_text(block.code, encoding="utf-8")
        for mode in ("strict", "auto"):
            run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 *plugin_args(), "-o", f"asyncio_mode={mode}", "test_doc_block.py"], tmp_path)
        return
    script = tmp_path / "doc_block.py"
    script.write_text(block.code, encoding="utf-8")
    if block.kind == "module":
        run([sys.executable, "-c", "import doc_block"], tmp_path)
    else:
        assert block.kind == "script", f"{block.name}: unknown kind {block.kind!r}"
        run([sys.executable, str(script)], tmp_path)


def test_the_recipes_are_marked_runnable() -> None:
    """The README's recipes (the agent, the graph commands, the test) are among the blocks."""
    readme = [b for b in BLOCKS if b.path.name == "README.md"]
    assert [(b.language, b.kind) for b in readme] == [
        ("python", "module"), ("bash", "script"), ("python", "pytest")]
    assert "flowagents graph render" in readme[1].code
    assert "await simulate(" in readme[2].code


def test_a_mark_without_a_fence_is_caught(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("text\n<!-- runnable -->\nnot a fence\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="must precede a ``` fence"):
        runnable_blocks(doc)
    doc.write_text("<!-- runnable: pytest -->\n```python\nx = 1\n```\n", encoding="utf-8")
    assert runnable_blocks(doc) == [Block(doc, 2, "python", "pytest", "x = 1\n")]


def test_the_readme_points_only_to_files_in_the_repository() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "../" not in text
    for ref in sorted(set(re.findall(r"`((?:docs|examples|scripts|graphs)/[\w./-]+)`", text))):
        assert (REPO / ref).exists(), f"README names {ref}, which does not exist"
