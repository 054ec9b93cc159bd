"""The interface between sensor drivers and the rest of the bridge.

A driver reads hardware (or simulates it) and hands each value to an ``Emit`` callback.
It knows nothing of MQTT, the spool or Home Assistant. ``Emit`` may be called from any
thread (gpiozero and serial readers call it from theirs); the runtime makes it safe.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from iot_monitor_bridge.model import DeviceSpec, JsonValue, OutputSpec, Reading, SensorSpec

Emit = Callable[[Reading], None]


def now_ms() -> int:
    """Event time for a reading taken now (wall clock, epoch milliseconds)."""
    return time.time_ns() // 1_000_000


class SensorDriver(ABC):
    """Reads one physical (or simulated) source that yields one or more sensors' values."""

    device_id: str
    sensors: tuple[SensorSpec, ...]

    @abstractmethod
    async def run(self, emit: Emit) -> None:
        """Produce readings until cancelled. Recoverable faults are counted, not raised."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release hardware (pins, ports). Called once after ``run`` ends."""

    def reading(self, sensor_id: str, value: JsonValue, ts_ms: int | None = None) -> Reading:
        return Reading(self.device_id, sensor_id, value, now_ms() if ts_ms is None else ts_ms)


class OutputDriver(ABC):
    """Something Home Assistant can switch on and off."""

    device_id: str
    spec: OutputSpec

    @property
    @abstractmethod
    def is_on(self) -> bool:
        """The state the hardware is in now."""

    @abstractmethod
    def set(self, on: bool) -> None:
        """Drive the output. Raises ``OSError`` if the hardware refuses."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the pin."""


class DriverError(Exception):
    """A driver could not be built from its configuration (missing hardware library, bad pin)."""


class DeviceSet:
    """Everything one configuration describes: devices for discovery, drivers to run."""

    def __init__(
        self,
        devices: list[DeviceSpec],
        sensors: list[SensorDriver],
        outputs: list[OutputDriver],
    ) -> None:
        self.devices = devices
        self.sensors = sensors
        self.outputs = outputs
