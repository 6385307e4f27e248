"""Running graphs: the loop scheduler, virtual time, async bridges, and the per-job runtime."""

from .bridge import from_async_iterable, from_coroutine, to_async_iterator
from .runtime import GraphRuntime
from .scheduler import LoopScheduler, seconds
from .virtual_time import VirtualTimeEventLoop, run_virtual

__all__ = [
    "GraphRuntime", "LoopScheduler", "VirtualTimeEventLoop", "from_async_iterable",
    "from_coroutine", "run_virtual", "seconds", "to_async_iterator",
]
