"""A simulated fleet for demos, load tests and the statistics in Home Assistant.

``count`` devices report temperature, humidity, battery, status and location ``rate_hz``
times a second each (8 x 4 Hz by default: 32 readings of each sensor per second).

One asyncio task drives the whole fleet. Devices are spread evenly over each period, and
every sample is stamped with its scheduled time, so each device yields exactly
``rate_hz * window`` samples per event-time window however late the loop wakes up.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Final, NamedTuple

from iot_monitor_bridge.config import MAX_SECONDS, DeviceConfig
from iot_monitor_bridge.drivers.base import DriverError, Emit, FaultLog, SensorDriver
from iot_monitor_bridge.model import DeviceSpec, JsonValue, Reading, SensorKind, SensorSpec

_LOGGER = logging.getLogger(__name__)

STATUS_OPTIONS: Final = ("ok", "warn", "error")
SENSORS: Final = (
    SensorSpec(
        "temperature",
        "Temperature",
        unit="°C",
        device_class="temperature",
        state_class="measurement",
        precision=1,
    ),
    SensorSpec(
        "humidity",
        "Humidity",
        unit="%",
        device_class="humidity",
        state_class="measurement",
        precision=1,
    ),
    SensorSpec(
        "battery",
        "Battery",
        unit="%",
        device_class="battery",
        state_class="measurement",
        precision=1,
    ),
    SensorSpec("status", "Status", SensorKind.ENUM, options=STATUS_OPTIONS),
    SensorSpec("location", "Location", SensorKind.LOCATION),
)
SENSOR_IDS: Final = tuple(spec.id for spec in SENSORS)
MODEL: Final = "Simulated device"

SITE: Final = (-6.2000, 106.8166)
"""Where the fleet stands (any place would do; Home Assistant's map wants the devices close)."""
SITE_SPREAD_DEG: Final = 0.01  # about 1 km
GPS_NOISE_DEG: Final = 0.00003  # about 3 m

LOW_BATTERY_WARN: Final = 15.0
_NS = 1_000_000_000
_MS_NS = 1_000_000
_SQRT6 = math.sqrt(6.0)

MIN_WAKE_S: Final = 0.005
"""Shortest sleep of the fleet task: at high rates, each wake-up handles a batch of samples."""
MAX_LAG_NS: Final = 2 * _NS
"""Samples more than this late (the loop was blocked, the machine suspended) are dropped."""
CLOCK_STEP_NS: Final = _NS
"""A wall clock that jumped by more than this (NTP's first sync on a Pi without RTC) is
followed; smaller differences are slewing, which the loop's clock follows too."""


class Sample(NamedTuple):
    """One sample of every simulated sensor, in ``SENSORS`` order."""

    temperature: float
    humidity: float
    battery: float
    status: str
    location: dict[str, JsonValue]


def _reversion(theta: float, dt: float, spread: float) -> tuple[float, float]:
    """Exact Ornstein-Uhlenbeck step for ``dt``: (pull toward the mean, noise scale).

    ``theta`` is the reversion rate (1/s) and ``spread`` the stationary standard deviation,
    so the walk looks the same whatever the sample rate.
    """
    decay = math.exp(-theta * dt)
    return 1.0 - decay, spread * math.sqrt(1.0 - decay * decay)


def _decimals(value: float, scale: float) -> float:
    """``value`` rounded to ``1/scale``; ``round(value, n)`` is slower by an order of magnitude."""
    return math.floor(value * scale + 0.5) / scale


def _chance(rate_per_s: float, dt: float) -> float:
    """Probability that an event with the given rate happens within ``dt``."""
    return 1.0 - math.exp(-rate_per_s * dt)


class SimulatedDevice:
    """One device's state, advanced by random walks that look like a real sensor node.

    Temperature and humidity wander around the device's own mean (Ornstein-Uhlenbeck, minutes
    to revert); the battery drains for hours down to a low mark, then charges back to full;
    the status is ``ok`` nearly always, with short warnings and rarer errors, and ``warn``
    while the battery is low; the position jitters by a few metres like a GPS fix.
    All randomness comes from ``rng``, so a seeded device repeats itself exactly.
    """

    __slots__ = (
        "_battery",
        "_charge_per_step",
        "_charging",
        "_drain_per_step",
        "_error_chance",
        "_humidity",
        "_humidity_kick",
        "_humidity_mean",
        "_humidity_pull",
        "_incident",
        "_latitude",
        "_longitude",
        "_low_mark",
        "_recover_chance",
        "_rng",
        "_settle_chance",
        "_temperature",
        "_temperature_kick",
        "_temperature_mean",
        "_temperature_pull",
        "_warn_chance",
    )

    def __init__(self, rng: random.Random, dt: float) -> None:
        self._rng = rng
        self._temperature_mean = rng.uniform(19.0, 27.0)
        self._temperature = self._temperature_mean + rng.gauss(0.0, 1.0)
        self._temperature_pull, self._temperature_kick = _reversion(1 / 600, dt, 1.2)
        self._humidity_mean = rng.uniform(40.0, 65.0)
        self._humidity = self._humidity_mean + rng.gauss(0.0, 3.0)
        self._humidity_pull, self._humidity_kick = _reversion(1 / 900, dt, 5.0)
        self._battery = rng.uniform(40.0, 100.0)
        self._charging = False
        self._low_mark = rng.uniform(10.0, 25.0)
        self._drain_per_step = rng.uniform(0.4, 1.2) / 60 * dt  # %/min while discharging
        self._charge_per_step = rng.uniform(4.0, 8.0) / 60 * dt
        self._incident = "ok"
        self._warn_chance = _chance(1 / 900, dt)
        self._error_chance = _chance(1 / 3600, dt)
        self._settle_chance = _chance(1 / 20, dt)  # a warning lasts about 20 s
        self._recover_chance = _chance(1 / 60, dt)  # an error about a minute
        self._latitude = SITE[0] + rng.uniform(-SITE_SPREAD_DEG, SITE_SPREAD_DEG)
        self._longitude = SITE[1] + rng.uniform(-SITE_SPREAD_DEG, SITE_SPREAD_DEG)

    def sample(self) -> Sample:
        """Advance one step and return what the sensors read."""
        noise = self._noise
        self._temperature += (
            self._temperature_pull * (self._temperature_mean - self._temperature)
            + self._temperature_kick * noise()
        )
        self._humidity += (
            self._humidity_pull * (self._humidity_mean - self._humidity)
            + self._humidity_kick * noise()
        )
        self._advance_battery()
        self._advance_incident(self._rng.random())
        status = self._incident
        if status == "ok" and self._battery < LOW_BATTERY_WARN:
            status = "warn"
        return Sample(
            _decimals(self._temperature + 0.05 * noise(), 100),
            _decimals(min(max(self._humidity, 0.0), 100.0), 10),
            _decimals(min(max(self._battery + 0.15 * noise(), 0.0), 100.0), 10),
            status,
            {
                "latitude": _decimals(self._latitude + GPS_NOISE_DEG * noise(), 1e6),
                "longitude": _decimals(self._longitude + GPS_NOISE_DEG * noise(), 1e6),
            },
        )

    def _noise(self) -> float:
        """Zero mean, unit variance; a sum of two uniforms (``gauss`` costs 20 times more)."""
        random_ = self._rng.random
        return (random_() + random_() - 1.0) * _SQRT6

    def _advance_battery(self) -> None:
        if self._charging:
            self._battery += self._charge_per_step
            if self._battery >= 100.0:
                self._battery = 100.0
                self._charging = False
        else:
            self._battery -= self._drain_per_step
            if self._battery <= self._low_mark:
                self._charging = True
                self._low_mark = self._rng.uniform(10.0, 25.0)

    def _advance_incident(self, draw: float) -> None:
        if self._incident == "ok":
            if draw < self._error_chance:
                self._incident = "error"
            elif draw < self._error_chance + self._warn_chance:
                self._incident = "warn"
        elif self._incident == "warn":
            if draw < self._settle_chance:
                self._incident = "ok"
        elif draw < self._recover_chance:
            self._incident = "ok"


@dataclass(frozen=True, slots=True)
class FleetSchedule:
    """When each sample is due: slot ``k`` is device ``k % count``'s sample ``k // count``.

    Devices are spread evenly over the period, so a fleet never wakes up all at once, and
    each device's samples are exactly ``period_ns`` apart. Times are offsets from the start.
    """

    count: int
    period_ns: int

    @classmethod
    def for_rate(cls, count: int, rate_hz: float) -> FleetSchedule:
        """The schedule of ``count`` devices, each sampled ``rate_hz`` times a second."""
        return cls(count, max(1, round(_NS / rate_hz)))

    def offset_ns(self, slot: int) -> int:
        """When ``slot`` is due, in nanoseconds from the start."""
        cycle, index = divmod(slot, self.count)
        return cycle * self.period_ns + index * self.period_ns // self.count

    def due(self, elapsed_ns: int) -> int:
        """How many slots are due by ``elapsed_ns``: the first slot not yet due."""
        if elapsed_ns < 0:
            return 0
        cycle, rest = divmod(elapsed_ns, self.period_ns)
        # index * period // count <= rest  <=>  index < (rest + 1) * count / period
        return cycle * self.count + min(self.count, -(-(rest + 1) * self.count // self.period_ns))


def clock_step_ns(expected_ns: int, actual_ns: int) -> int:
    """How far the wall clock jumped, or 0 if it only drifted within ``CLOCK_STEP_NS``."""
    step = actual_ns - expected_ns
    return step if abs(step) > CLOCK_STEP_NS else 0


def _device_rngs(seed: int | None, count: int) -> list[random.Random]:
    """One generator per device, so a device's values depend on the seed and its number only."""
    if seed is None:
        return [random.Random() for _ in range(count)]  # noqa: S311 - simulation, not crypto
    return [random.Random(f"{seed}/{n}") for n in range(1, count + 1)]  # noqa: S311


class SimulatedFleet(SensorDriver):
    """The devices of one ``simulate`` entry, all driven by a single task."""

    def __init__(self, device_cfg: DeviceConfig) -> None:
        simulate = device_cfg.simulate
        if simulate is None:
            raise ValueError(f"device {device_cfg.id} has no simulate section")
        self.device_id = device_cfg.id
        self.sensors = SENSORS
        self.faults = FaultLog(_LOGGER, device_cfg.id)
        self.devices = [
            DeviceSpec(
                id=f"{device_cfg.id}_{n}",
                name=f"{device_cfg.display_name} {n}",
                model=MODEL,
                sensors=SENSORS,
                suggested_area=device_cfg.area,
            )
            for n in range(1, simulate.count + 1)
        ]
        if not simulate.rate_hz * MAX_SECONDS >= 1:  # a period of more than a year (or inf)
            raise DriverError(
                f"devices: device '{device_cfg.id}': simulate.rate_hz {simulate.rate_hz:g} "
                "is less than one sample a year"
            )
        self.schedule = FleetSchedule.for_rate(simulate.count, simulate.rate_hz)
        dt = self.schedule.period_ns / _NS
        self._simulations = [
            SimulatedDevice(rng, dt) for rng in _device_rngs(simulate.seed, simulate.count)
        ]

    async def run(self, emit: Emit) -> None:
        """Emit every device's samples when due, stamped with their scheduled event time.

        Samples the loop is more than ``MAX_LAG_NS`` late for are dropped (an ``overrun`` fault)
        rather than sent in a burst; a step of the wall clock moves the timestamps with it.
        """
        loop = asyncio.get_running_loop()
        schedule = self.schedule
        device_ids = [device.id for device in self.devices]
        simulations = self._simulations
        count = schedule.count
        start = loop.time()
        wall_start_ns = time.time_ns()  # event time of slot 0
        slot = 0
        while True:
            elapsed_ns = int((loop.time() - start) * _NS)
            wall_start_ns += clock_step_ns(wall_start_ns + elapsed_ns, time.time_ns())
            oldest = schedule.due(elapsed_ns - MAX_LAG_NS)
            if slot < oldest:
                self.faults.fault(
                    "overrun", f"dropped {oldest - slot} samples the loop was late for"
                )
                slot = oldest
            due = schedule.due(elapsed_ns)
            for due_slot in range(slot, due):
                index = due_slot % count
                device_id = device_ids[index]
                ts_ms = (wall_start_ns + schedule.offset_ns(due_slot)) // _MS_NS
                values: tuple[JsonValue, ...] = simulations[index].sample()
                for sensor_id, value in zip(SENSOR_IDS, values, strict=True):
                    emit(Reading(device_id, sensor_id, value, ts_ms))
            slot = max(slot, due)
            wait_s = (schedule.offset_ns(slot) - elapsed_ns) / _NS
            await asyncio.sleep(max(wait_s, MIN_WAKE_S))
