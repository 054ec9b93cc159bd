"""Absolute-deadline timing for drivers that sample periodically.

Sleeping ``interval`` after each sample would stretch every period by the time the sample
took; deadlines on the event loop's clock keep the rate exact over days.
"""

from __future__ import annotations

import asyncio
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
    """Wakes at ``start + first_after + n * interval`` on the running loop's clock."""

    def __init__(self, interval: float, *, first_after: float = 0.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._interval = interval
        self._deadline = self._loop.time() + first_after

    async def wait(self) -> None:
        """Sleep until the next deadline (at once if it is due)."""
        delay = self._deadline - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        self._deadline = next_deadline(self._deadline, self._interval, self._loop.time())
