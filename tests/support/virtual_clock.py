"""An asyncio event loop on a virtual clock, to watch minutes of timing in milliseconds.

Whenever the loop would wait for its next timer, the clock jumps to it instead. That is
exact for code that waits only on the loop's timers and on sockets that are ready at once
or never (a refused connect, a server that never answers); work sent to an executor runs
inline, so no thread can finish behind the clock's back. A loop with nothing scheduled and
nothing ready would wait for ever: it raises instead.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

_T = TypeVar("_T")


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """Polls without blocking; moves the loop's clock by the time it would have blocked."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("nothing scheduled and nothing ready: the loop would hang")
        self._loop.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``time()`` is virtual: it starts at 0 and moves only from timer to timer."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        future: asyncio.Future[_T] = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as err:  # noqa: BLE001 - handed over as the future's, as an executor would
            future.set_exception(err)
        return future
