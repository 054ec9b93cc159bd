"""Absolute-deadline timing for drivers that sample periodically.

Sleeping ``interval`` after each sample would stretch every period by the time the sample
took; deadlines on the event loop's clock keep the rate exact over days.
"""

from __future__ import annotations

import asyncio
import contextlib
import math


def next_deadline(deadline: float, interval: float, now: float) -> float:
    """The deadline that follows ``deadline``.

    Normally one interval later. When that one has already passed (a sample took longer than
    a period, or the machine was suspended), the first deadline still ahead: missed samples
    are skipped, not taken in a burst, and the phase is kept.
    """
    following = deadline + interval
    if following >= now:
        return following
    return following + math.ceil((now - following) / interval) * interval


class Ticker:
    """Wakes at ``start + first_after + n * interval`` on the running loop's clock.

    ``set_interval`` changes the period while the ticker runs (a remote ``set_config``).
    """

    def __init__(self, interval: float, *, first_after: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._interval = interval
        self._deadline = self._loop.time() + first_after
        self._changed = asyncio.Event()

    def set_interval(self, interval: float) -> None:
        """Use ``interval`` from the pending deadline on.

        The pending deadline becomes one new interval after the previous tick, and a
        ``wait`` in progress follows it: going from an hour to ten seconds does not first
        wait out the hour.
        """
        self._deadline += interval - self._interval
        self._interval = interval
        self._changed.set()

    async def wait(self) -> None:
        """Sleep until the next deadline (at once if it is due)."""
        while (delay := self._deadline - self._loop.time()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), delay)
        self._deadline = next_deadline(self._deadline, self._interval, self._loop.time())
