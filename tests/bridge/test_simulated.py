"""The simulated fleet: devices, the brief's 8 x 4 Hz shape, determinism, realistic values."""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections import Counter, defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.config import DeviceConfig, SimulateConfig, parse_config, validate
from iot_monitor_bridge.drivers import build_device_set, simulated
from iot_monitor_bridge.drivers.base import now_ms
from iot_monitor_bridge.drivers.simulated import (
    CLOCK_STEP_NS,
    SENSOR_IDS,
    SITE,
    SITE_SPREAD_DEG,
    STATUS_OPTIONS,
    FleetSchedule,
    SimulatedDevice,
    SimulatedFleet,
    clock_step_ns,
)
from iot_monitor_bridge.model import JsonValue, Reading, SensorKind
from tests.support.drivers import next_reading, running


def _fleet(count: int = 8, rate_hz: float = 4.0, seed: int | None = 1) -> SimulatedFleet:
    return SimulatedFleet(
        DeviceConfig(
            id="fleet",
            name="Sensor node",
            area="Lab",
            simulate=SimulateConfig(count=count, rate_hz=rate_hz, seed=seed),
        )
    )


def _window_counts(
    readings: list[Reading], start_ms: int, span_ms: int
) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for reading in readings:
        if start_ms <= reading.ts_ms < start_ms + span_ms:
            counts[reading.device_id, reading.sensor_id] += 1
    return counts


# --- devices -----------------------------------------------------------------------------


def test_fleet_declares_numbered_devices_with_five_sensors() -> None:
    fleet = _fleet(count=3)
    assert [(d.id, d.name, d.model, d.suggested_area) for d in fleet.devices] == [
        ("fleet_1", "Sensor node 1", "Simulated device", "Lab"),
        ("fleet_2", "Sensor node 2", "Simulated device", "Lab"),
        ("fleet_3", "Sensor node 3", "Simulated device", "Lab"),
    ]
    specs = {spec.id: spec for spec in fleet.devices[0].sensors}
    assert (
        tuple(specs) == SENSOR_IDS == ("temperature", "humidity", "battery", "status", "location")
    )
    assert (specs["temperature"].unit, specs["temperature"].device_class) == ("°C", "temperature")
    assert (specs["humidity"].unit, specs["humidity"].device_class) == ("%", "humidity")
    assert (specs["battery"].unit, specs["battery"].device_class) == ("%", "battery")
    for numeric in ("temperature", "humidity", "battery"):
        assert specs[numeric].kind is SensorKind.NUMERIC
        assert specs[numeric].state_class == "measurement"
    assert specs["status"].kind is SensorKind.ENUM
    assert specs["status"].options == STATUS_OPTIONS == ("ok", "warn", "error")
    assert specs["location"].kind is SensorKind.LOCATION
    assert fleet.sensors == fleet.devices[0].sensors


def test_device_set_builds_the_fleet_from_config() -> None:
    config = parse_config("devices: [{id: fleet, simulate: {count: 2, seed: 3}}]")
    device_set = build_device_set(config)
    assert [d.id for d in device_set.devices] == ["fleet_1", "fleet_2"]
    assert len(device_set.sensors) == 1
    assert isinstance(device_set.sensors[0], SimulatedFleet)


def test_a_device_without_simulate_is_refused() -> None:
    with pytest.raises(ValueError, match="simulate"):
        SimulatedFleet(
            validate(
                {"id": "x", "outputs": [{"id": "o", "type": "gpio_output", "pin": 5}]}, DeviceConfig
            )
        )


# --- the schedule (pure) -----------------------------------------------------------------


def test_brief_shape_40_readings_per_device_per_10_s_window() -> None:
    """8 devices x 4 Hz: every device lands exactly 40 samples in every 10 s event window."""
    schedule = _fleet().schedule
    assert schedule == FleetSchedule(count=8, period_ns=250_000_000)
    start_ns = 1_730_638_574_123_456_789  # any wall-clock start, not aligned to anything
    per_window: Counter[tuple[int, int]] = Counter()
    slots = 8 * 4 * 120  # two minutes
    for slot in range(slots):
        ts_ms = (start_ns + schedule.offset_ns(slot)) // 1_000_000
        per_window[slot % schedule.count, ts_ms // 10_000] += 1
    first, last = min(w for _, w in per_window), max(w for _, w in per_window)
    full_windows = range(first + 1, last)  # the first and last are cut by the run
    assert len(full_windows) >= 10
    assert {per_window[device, window] for device in range(8) for window in full_windows} == {40}


def test_devices_are_spread_over_the_period() -> None:
    schedule = FleetSchedule.for_rate(8, 4.0)
    assert [schedule.offset_ns(slot) for slot in range(9)] == [n * 31_250_000 for n in range(9)]


@given(
    count=st.integers(min_value=1, max_value=50),
    period_ns=st.integers(min_value=1, max_value=10**9),
    elapsed_ns=st.integers(min_value=-(10**9), max_value=10**10),
)
def test_due_counts_the_slots_whose_time_has_come(
    count: int, period_ns: int, elapsed_ns: int
) -> None:
    schedule = FleetSchedule(count, period_ns)
    due = schedule.due(elapsed_ns)
    if due > 0:
        assert schedule.offset_ns(due - 1) <= elapsed_ns
    assert schedule.offset_ns(due) > elapsed_ns


def test_clock_steps_are_followed_and_drift_is_not() -> None:
    assert clock_step_ns(10**18, 10**18 + CLOCK_STEP_NS // 2) == 0
    assert clock_step_ns(10**18, 10**18 + 3600 * 10**9) == 3600 * 10**9
    assert clock_step_ns(10**18, 10**18 - 2 * CLOCK_STEP_NS) == -2 * CLOCK_STEP_NS


# --- running -----------------------------------------------------------------------------


async def _collect_until(queue: asyncio.Queue[Reading], end_ms: int) -> list[Reading]:
    """Readings until the first one stamped at or after ``end_ms`` (slots come in time order)."""
    readings = []
    while (reading := await next_reading(queue)).ts_ms < end_ms:
        readings.append(reading)
    return readings


async def test_running_fleet_fills_each_event_window_evenly() -> None:
    """The brief's shape at 50x speed: 8 devices x 200 Hz, 40 readings per 200 ms window."""
    span_ms = 200
    before = now_ms()
    async with running(_fleet(rate_hz=200.0)) as queue:
        first = await next_reading(queue)
        window = -(-first.ts_ms // span_ms) * span_ms  # first aligned window after the start
        readings = await _collect_until(queue, window + span_ms)
    assert first.ts_ms >= before
    counts = _window_counts(readings, window, span_ms)
    assert set(counts) == {(f"fleet_{n}", s) for n in range(1, 9) for s in SENSOR_IDS}
    assert set(counts.values()) == {40}
    by_device: defaultdict[str, list[int]] = defaultdict(list)
    for reading in readings:
        if reading.sensor_id == "temperature":
            by_device[reading.device_id].append(reading.ts_ms)
    for stamps in by_device.values():
        assert {b - a for a, b in itertools.pairwise(stamps)} == {5}


async def test_brief_rate_in_real_time() -> None:
    """At the brief's 8 x 4 Hz, the first round reaches every device within one period."""
    loop = asyncio.get_running_loop()
    async with running(_fleet()) as queue:
        started = loop.time()
        readings = [await next_reading(queue) for _ in range(8 * len(SENSOR_IDS))]
        elapsed = loop.time() - started
    assert {r.device_id for r in readings} == {f"fleet_{n}" for n in range(1, 9)}
    stamps = sorted({r.ts_ms for r in readings})
    assert len(stamps) == 8
    assert stamps[-1] - stamps[0] in (218, 219)  # 7/8 of a 250 ms period
    assert elapsed < 0.25 + 0.2


async def _first_values(seed: int, per_sensor: int = 12) -> list[tuple[str, str, JsonValue]]:
    values: list[tuple[str, str, JsonValue]] = []
    async with running(_fleet(count=4, rate_hz=400.0, seed=seed)) as queue:
        while len(values) < 4 * len(SENSOR_IDS) * per_sensor:
            reading = await next_reading(queue)
            values.append((reading.device_id, reading.sensor_id, reading.value))
    return values


async def test_seed_makes_runs_repeat_exactly() -> None:
    first = await _first_values(seed=42)
    assert first == await _first_values(seed=42)
    assert first != await _first_values(seed=43)


async def test_a_blocked_loop_drops_old_samples_as_overrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulated, "MAX_LAG_NS", 50_000_000)
    fleet = _fleet(count=2, rate_hz=100.0)
    async with running(fleet) as queue:
        last_before = (await next_reading(queue)).ts_ms
        while not queue.empty():  # everything emitted before the block
            last_before = queue.get_nowait().ts_ms
        time.sleep(0.3)  # noqa: ASYNC251 - the condition under test: a blocked event loop
        after = [await next_reading(queue) for _ in range(2 * len(SENSOR_IDS) * 3)]
    assert fleet.faults.counts["overrun"] == 1
    # Of the 300 ms missed, only the last 50 ms (and what came due since) are emitted.
    assert min(r.ts_ms for r in after) - last_before >= 200


# --- the device model --------------------------------------------------------------------


def test_values_stay_realistic_over_a_simulated_day() -> None:
    dt = 10.0
    steps = 24 * 3600 // int(dt)
    statuses: Counter[str] = Counter()
    for n in range(1, 5):
        device = SimulatedDevice(random.Random(f"range/{n}"), dt)
        samples = [device.sample() for _ in range(steps)]
        temperatures = [s.temperature for s in samples]
        humidities = [s.humidity for s in samples]
        batteries = [s.battery for s in samples]
        assert min(temperatures) > 5.0
        assert max(temperatures) < 40.0
        assert statistics.pstdev(temperatures) > 0.3  # it moves
        assert min(humidities) >= 0.0
        assert max(humidities) <= 100.0
        assert statistics.pstdev(humidities) > 1.0
        assert min(batteries) >= 0.0
        assert max(batteries) <= 100.0
        hourly = batteries[:: 3600 // int(dt)]
        assert any(b < a - 5 for a, b in itertools.pairwise(hourly))  # drains
        assert any(b > a + 5 for a, b in itertools.pairwise(hourly))  # and recharges
        assert min(batteries) >= 5.0  # recharging starts at the low mark
        for sample in samples:
            assert abs(sample.location["latitude"] - SITE[0]) <= SITE_SPREAD_DEG + 0.001  # type: ignore[operator]
            assert abs(sample.location["longitude"] - SITE[1]) <= SITE_SPREAD_DEG + 0.001  # type: ignore[operator]
        statuses.update(s.status for s in samples)
    assert set(statuses) == set(STATUS_OPTIONS)
    assert statuses["ok"] / sum(statuses.values()) > 0.85  # mostly ok


def test_step_size_does_not_change_the_character_of_the_walk() -> None:
    """Reversion is per second, not per sample: 4 Hz and 0.2 Hz wander alike."""
    spreads = []
    for dt in (0.25, 5.0):
        device = SimulatedDevice(random.Random("spread"), dt)
        samples = [device.sample().temperature for _ in range(int(4 * 3600 / dt))]
        spreads.append(statistics.pstdev(samples))
    assert spreads[0] == pytest.approx(spreads[1], rel=0.5)
