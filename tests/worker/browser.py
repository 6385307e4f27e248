"""Headless Chromium for the inspect-page tests: load a page, return its DOM (or write a
screenshot), and read the per-node value counters the page shows. Chromium is Debian's package
(``scripts/setup.sh`` installs it)."""

from __future__ import annotations

import asyncio
import re
import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_ROW = re.compile(r'<tr data-node="([^"]+)"[^>]*>.*?<td class="num values">(\d+)</td>', re.S)


async def chromium(*args: str, height: int = 1600) -> str:
    """Run headless Chromium with ``args`` (``--dump-dom URL``, ``--screenshot=F URL``)."""
    assert CHROMIUM is not None, "install Debian's chromium (scripts/setup.sh does)"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--virtual-time-budget=3000", f"--window-size=1280,{height}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0
    return out.decode()


def node_values(dom: str) -> dict[str, int]:
    """Each node's value count, as the page's table shows it."""
    return {node: int(n) for node, n in _ROW.findall(dom)}
