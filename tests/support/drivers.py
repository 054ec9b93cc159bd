"""Run a sensor driver inside a test and wait for what it emits or the faults it counts.

Faults are waited on by count (``record_faults``), which also shows that a driver keeps
counting and keeps going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

from iot_monitor_bridge.drivers.base import FaultLog, SensorDriver
from iot_monitor_bridge.model import Reading

DEFAULT_TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def running(driver: SensorDriver) -> AsyncIterator[asyncio.Queue[Reading]]:
    """Run ``driver`` as a task; every reading it emits (from any thread) lands in the queue.

    On exit the task is cancelled (an error it raised is re-raised) and the driver closed.
    """
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    queue: asyncio.Queue[Reading] = asyncio.Queue()

    def emit(reading: Reading) -> None:
        if threading.get_ident() == loop_thread:
            queue.put_nowait(reading)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, reading)

    task = asyncio.create_task(driver.run(emit))
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        driver.close()


async def next_reading(queue: asyncio.Queue[Reading], within_s: float = DEFAULT_TIMEOUT) -> Reading:
    """The next reading; fails the test if none comes ``within_s``."""
    return await asyncio.wait_for(queue.get(), within_s)


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
