"""Run a sensor driver inside a test and wait for what it emits or the faults it counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from iot_monitor_bridge.drivers.base import SensorDriver
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


class _FaultSignal(logging.Handler):
    def __init__(self, driver: SensorDriver, kind: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.driver = driver
        self.kind = kind
        self.loop = loop
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.driver.faults.counts[self.kind]:
            self.loop.call_soon_threadsafe(self.event.set)


@contextlib.asynccontextmanager
async def fault_signal(driver: SensorDriver, kind: str) -> AsyncIterator[asyncio.Event]:
    """An event set once ``driver`` has counted a fault of ``kind``.

    ``FaultLog`` logs the first fault of a burst, so the log record is the signal.
    """
    handler = _FaultSignal(driver, kind, asyncio.get_running_loop())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.event
    finally:
        root.removeHandler(handler)
