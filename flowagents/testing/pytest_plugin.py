"""pytest plugin: ``@pytest.mark.virtual_time`` runs an ``async def`` test on a virtual clock.

:func:`~flowagents.testing.simulate` needs a :class:`~flowagents.runtime.VirtualTimeEventLoop`
(a minute of conversation in milliseconds, exact timings), which pytest-asyncio's loop is not. A
test marked ``virtual_time`` runs on a fresh virtual-time loop instead, with or without
pytest-asyncio, in its strict or auto mode (in auto mode this plugin takes the marked tests back
from it, so they are not run on its loop). Installed with flowagents, registered by the
``pytest11`` entry point, so a test file needs nothing but the marker::

    @pytest.mark.virtual_time
    async def test_greeting() -> None:
        result = await simulate(script, agent=Agent(instructions="Be kind."))

Fixtures of a marked test are set up as usual; an async fixture would run on another loop, so
build what needs the loop inside the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

from flowagents.runtime.virtual_time import run_virtual

__all__ = ["MARKER"]

MARKER = "virtual_time"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: run this async test on flowagents' virtual-time loop "
                   "(flowagents.runtime.VirtualTimeEventLoop)")


def _marked(item: pytest.Function) -> bool:
    return item.get_closest_marker(MARKER) is not None and inspect.iscoroutinefunction(
        item.function)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str,
                              obj: object) -> Generator[None, Any, Any]:
    """A marked test that another plugin claimed (pytest-asyncio's auto mode makes it its own
    item type) becomes a plain test function again, which :func:`pytest_pyfunc_call` runs."""
    result = yield
    if not result:
        return result
    items = result if isinstance(result, list) else [result]
    return [_reclaim(item) if isinstance(item, pytest.Function) and type(item) is not
            pytest.Function and _marked(item) else item for item in items]


def _reclaim(item: pytest.Function) -> pytest.Function:
    assert item.parent is not None
    plain = pytest.Function.from_parent(
        item.parent, name=item.name, callspec=getattr(item, "callspec", None),
        callobj=item.obj, fixtureinfo=item._fixtureinfo, originalname=item.originalname,
        keywords={k: v for k, v in item.keywords.items() if k != "asyncio"})
    plain.own_markers = [m for m in item.own_markers if m.name != "asyncio"]
    return plain


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a marked coroutine test to completion on a new virtual-time loop."""
    if not _marked(pyfuncitem):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run_virtual(pyfuncitem.obj(**args))
    return True
