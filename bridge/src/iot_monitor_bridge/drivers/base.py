"""The interface between sensor drivers and the rest of the bridge.

A driver reads hardware (or simulates it) and hands each value to an ``Emit`` callback.
It knows nothing of MQTT, the spool or Home Assistant. ``Emit`` may be called from any
thread (gpiozero and serial readers call it from theirs); the runtime makes it safe.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from iot_monitor_bridge.contract.faults import FaultLog
from iot_monitor_bridge.drivers.schedule import Ticker
from iot_monitor_bridge.model import DeviceSpec, JsonValue, OutputSpec, Reading, SensorSpec
from iot_monitor_bridge.states import StateFilter

Emit = Callable[[Reading], None]

__all__ = ["Emit", "FaultLog", "OutputDriver", "SensorDriver", "now_ms"]


def now_ms() -> int:
    """Event time for a reading taken now (wall clock, epoch milliseconds)."""
    return time.time_ns() // 1_000_000


class SensorDriver(ABC):
    """Reads one physical (or simulated) source that yields one or more sensors' values.

    Subclasses set ``device_id``, ``sensors`` and ``faults`` in their constructor, which
    must not touch hardware: ``run`` does.
    """

    device_id: str
    sensors: tuple[SensorSpec, ...]
    faults: FaultLog
    interval: float | None = None
    """Seconds between samples of a driver that polls; ``None`` for one driven by events."""
    _ticker: Ticker | None = None

    @abstractmethod
    async def run(self, emit: Emit) -> None:
        """Produce readings until cancelled. Recoverable faults are counted, not raised."""

    def set_interval(self, seconds: float) -> None:
        """Change ``interval`` while running (remote ``set_config``); the current wait follows.

        Polling drivers sample on ``ticker()`` or read ``interval`` on every loop.
        """
        self.interval = seconds
        if self._ticker is not None:
            self._ticker.set_interval(seconds)

    def ticker(self, *, first_after: float = 0.0) -> Ticker:
        """A ``Ticker`` at ``interval`` for ``run``'s loop, following ``set_interval``."""
        if self.interval is None:
            raise TypeError(f"{type(self).__name__} has no interval")
        self._ticker = Ticker(self.interval, first_after=first_after)
        return self._ticker

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release hardware (pins, ports). Called once after ``run`` ends."""

    def reading(self, sensor_id: str, value: JsonValue, ts_ms: int | None = None) -> Reading:
        """A reading of one of this driver's sensors, taken now unless ``ts_ms`` says when."""
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
        configured: dict[tuple[str, str], SensorDriver],
        state_filters: dict[tuple[str, str], StateFilter],
    ) -> None:
        """Hold what ``build_device_set`` made."""
        self.devices = devices
        self.sensors = sensors
        self.outputs = outputs
        self.configured = configured
        """The driver of each ``devices[].sensors[]`` entry, by (device id, sensor id)."""
        self.state_filters = state_filters
        """The state filter settings of each sensor, by (device id, sensor id)."""
