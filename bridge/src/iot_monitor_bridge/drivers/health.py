"""The machine's own health as diagnostic sensors of the bridge device.

CPU usage, CPU temperature, load, available memory, free disk and the host's uptime (time
since the machine booted), sampled every ``health.interval``. The bridge's own uptime is
not the machine's: it is the ``uptime`` sensor of ``runtime/bridge_device.py``.

A sensor this machine cannot read (no thermal sensor in a VM, a ``disk_path`` that does
not exist) is left out of the declared sensors instead of reporting nothing forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final

import psutil

from iot_monitor_bridge.config import HealthConfig
from iot_monitor_bridge.drivers.base import Emit, FaultLog, SensorDriver
from iot_monitor_bridge.model import BRIDGE_DEVICE_ID, JsonValue, SensorSpec

_LOGGER = logging.getLogger(__name__)

THERMAL_ZONE: Final = Path("/sys/class/thermal/thermal_zone0")
"""The SoC's temperature on a Raspberry Pi."""
CPU_SENSOR_NAMES: Final = ("cpu_thermal", "cpu-thermal", "soc_thermal", "coretemp", "k10temp")
"""psutil's names for a CPU temperature sensor (Raspberry Pi, other ARM boards, Intel, AMD)."""

CPU_USAGE: Final = SensorSpec(
    "cpu_usage",
    "CPU usage",
    unit="%",
    state_class="measurement",
    precision=1,
    diagnostic=True,
    icon="mdi:cpu-64-bit",
)
CPU_TEMPERATURE: Final = SensorSpec(
    "cpu_temperature",
    "CPU temperature",
    unit="°C",
    device_class="temperature",
    state_class="measurement",
    precision=1,
    diagnostic=True,
)
LOAD_1M: Final = SensorSpec(
    "load_1m",
    "Load (1 min)",
    state_class="measurement",
    precision=2,
    diagnostic=True,
    icon="mdi:gauge",
)
MEMORY_FREE: Final = SensorSpec(
    "memory_free",
    "Memory free",
    unit="MiB",
    device_class="data_size",
    state_class="measurement",
    precision=0,
    diagnostic=True,
    icon="mdi:memory",
)
DISK_FREE: Final = SensorSpec(
    "disk_free",
    "Disk free",
    unit="%",
    state_class="measurement",
    precision=1,
    diagnostic=True,
    icon="mdi:harddisk",
)
HOST_UPTIME: Final = SensorSpec(
    "host_uptime",
    "Host uptime",
    unit="s",
    device_class="duration",
    state_class=None,
    precision=0,
    diagnostic=True,
)
"""Seconds since the machine booted. No state class: long-term statistics of an uptime are
meaningless (``total_increasing`` would add up every boot's uptime as if it were a meter,
``measurement`` would average it)."""

Reader = Callable[[], float | None]
"""Reads one value; ``None`` means nothing to report yet, an exception is a fault."""


def read_thermal_zone(zone: Path) -> float:
    """Degrees Celsius from a thermal zone's ``temp`` file (millidegrees)."""
    return int((zone / "temp").read_text(encoding="ascii").strip()) / 1000.0


def read_psutil_cpu_temperature() -> float:
    """Degrees Celsius from the first CPU sensor psutil knows; ``LookupError`` if none."""
    sensors = psutil.sensors_temperatures()
    for name in CPU_SENSOR_NAMES:
        entries = sensors.get(name)
        if entries:
            return float(entries[0].current)
    raise LookupError("no CPU temperature sensor")


def cpu_temperature_reader(zone: Path) -> Callable[[], float] | None:
    """The CPU sensor psutil finds, else the thermal zone's file, else ``None``."""
    for reader in (read_psutil_cpu_temperature, partial(read_thermal_zone, zone)):
        try:
            reader()
        except (OSError, ValueError, LookupError):
            continue
        return reader
    return None


def cpu_busy_fraction(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """Share of CPU time spent busy between two ``(busy, total)`` samples of the counters."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    return min(max((after[0] - before[0]) / total, 0.0), 1.0)


def _cpu_counters() -> tuple[float, float]:
    """Busy and total CPU seconds since boot; guest time is already counted in user time."""
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class _CpuUsage:
    """CPU busy % since the previous call, with its own counters.

    ``psutil.cpu_percent`` keeps one module-wide previous sample, so any other caller in the
    process would shorten our interval.
    """

    def __init__(self) -> None:
        self._previous: tuple[float, float] | None = None

    def __call__(self) -> float | None:
        counters = _cpu_counters()
        previous, self._previous = self._previous, counters
        if previous is None:
            return None
        fraction = cpu_busy_fraction(previous, counters)
        return None if fraction is None else round(fraction * 100.0, 1)


class HealthDriver(SensorDriver):
    """The bridge device's diagnostic sensors: how the machine running the bridge is doing."""

    def __init__(self, cfg: HealthConfig, *, thermal_zone: Path = THERMAL_ZONE) -> None:
        self.device_id = BRIDGE_DEVICE_ID
        self.faults = FaultLog(_LOGGER, f"{BRIDGE_DEVICE_ID}/health")
        self.interval = cfg.interval
        self._disk_path = cfg.disk_path
        readers: list[tuple[SensorSpec, Reader]] = [(CPU_USAGE, _CpuUsage())]
        temperature = cpu_temperature_reader(thermal_zone)
        if temperature is not None:
            readers.append((CPU_TEMPERATURE, lambda: round(temperature(), 1)))
        else:
            _LOGGER.info("no CPU temperature sensor on this machine; not reporting it")
        readers.append((LOAD_1M, lambda: round(psutil.getloadavg()[0], 2)))
        readers.append((MEMORY_FREE, lambda: round(psutil.virtual_memory().available / 2**20)))
        if self._disk_path.exists():
            readers.append((DISK_FREE, self._disk_free))
        else:
            _LOGGER.warning("health.disk_path %s does not exist; not reporting it", cfg.disk_path)
        readers.append((HOST_UPTIME, lambda: round(time.time() - psutil.boot_time())))
        self._readers = readers
        self.sensors = tuple(spec for spec, _ in readers)

    async def run(self, emit: Emit) -> None:
        """Sample every ``interval`` off the loop: ``statvfs`` of a network mount can hang."""
        ticker = self.ticker()
        while True:
            await ticker.wait()
            # statvfs on a network mount can hang: never on the loop.
            values = await asyncio.to_thread(self._sample)
            for sensor_id, value in values:
                emit(self.reading(sensor_id, value))

    def _sample(self) -> list[tuple[str, JsonValue]]:
        values: list[tuple[str, JsonValue]] = []
        for spec, read in self._readers:
            try:
                value = read()
            except (OSError, ValueError, LookupError) as err:
                self.faults.fault(f"{spec.id}_unreadable", str(err) or type(err).__name__)
                continue
            if value is not None:
                values.append((spec.id, value))
        return values

    def _disk_free(self) -> float:
        return round(100.0 - psutil.disk_usage(str(self._disk_path)).percent, 1)
