"""Waits for drivers run with ``tests.support.drivers.running``: counted faults, matching readings.

``drivers.fault_signal`` fires on the first fault of a kind (the one ``FaultLog`` logs); these
wait for a number of faults, which shows that a driver keeps counting and keeps going.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from iot_monitor_bridge.drivers.base import FaultLog, SensorDriver
from iot_monitor_bridge.model import Reading


class RecordingFaultLog(FaultLog):
    """A fault log that tests can wait on; faults may be counted from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("tests.faults"), "test")
        self._cond = threading.Condition()

    def fault(self, kind: str, detail: str) -> None:
        with self._cond:
            super().fault(kind, detail)
            self._cond.notify_all()

    async def wait_for(self, kind: str, count: int = 1, within: float = 5.0) -> None:
        """Return once ``count`` faults of ``kind`` have been counted in all."""

        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: self.counts[kind] >= count, within)

        if not await asyncio.to_thread(wait):
            raise AssertionError(f"{self.counts[kind]} of {count} {kind} faults: {self.counts}")


def record_faults(driver: SensorDriver) -> RecordingFaultLog:
    """Give ``driver`` (before it runs) a fault log that tests can wait on."""
    driver.faults = RecordingFaultLog()
    return driver.faults


async def reading_matching(
    queue: asyncio.Queue[Reading], predicate: Callable[[Reading], bool], within: float = 5.0
) -> tuple[Reading, list[Reading]]:
    """The first reading matching ``predicate``, and the readings skipped on the way."""
    skipped: list[Reading] = []

    async def scan() -> Reading:
        while not predicate(reading := await queue.get()):
            skipped.append(reading)
        return reading

    try:
        return await asyncio.wait_for(scan(), within), skipped
    except TimeoutError:
        raise AssertionError(f"no matching reading; skipped {skipped}") from None
