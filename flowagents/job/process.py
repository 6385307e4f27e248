"""The job process as seen from user code: its pid and the ``userdata`` that ``prewarm_fnc`` fills.

A process is pre-warmed once (``prewarm_fnc(proc)``, e.g. to load a VAD into ``proc.userdata``) and
then runs exactly one job, so anything put in ``userdata`` is ready before the assignment arrives.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["JobProcess"]


class JobProcess:
    """One pre-warmed job process."""

    def __init__(self, *, pid: int | None = None, start_arguments: Any = None) -> None:
        self._pid = os.getpid() if pid is None else pid
        self._userdata: dict[str, Any] = {}
        self.start_arguments = start_arguments

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def userdata(self) -> dict[str, Any]:
        """Free-form state shared between ``prewarm_fnc`` and the entrypoint."""
        return self._userdata

    def __repr__(self) -> str:
        return f"JobProcess(pid={self._pid})"
