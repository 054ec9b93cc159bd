"""Long-term statistics without a hole: a bridge offline for 3 hours, then its replay.

The recorder runs on SQLite (``recorder_mock``) and compiles on its own 5-minute schedule
as the frozen clock moves. Hour A is live, the bridge is offline for hours B, C and D and
comes back 10 minutes into hour E, replaying everything it kept; then E goes on live. After
the compiles, every hour of the bridge's raw sensors is in the long-term statistics with the
mean, min and max of all its readings, and another entity's hours are untouched.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import UnitOfTemperature
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_monitor.const import DOMAIN
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.model import DeviceSpec, SensorSpec
from tests.integration.bridge_entry import (
    async_setup_bridge,
    coordinator_of,
    fire_stream,
    raw_entity_id,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

pytestmark = pytest.mark.parametrize("enable_statistics", [True])

DEVICE = "fleet_1"
SENSORS = ("temperature", "humidity")
STEP_S = 10
STREAM_BATCH = 200
"""Readings per stream message at most, as the bridge's publisher sends them."""
"""One reading per sensor every 10 s: 360 an hour."""
OTHER = "sensor.outdoor"
OTHER_ATTRIBUTES = {"state_class": "measurement", "unit_of_measurement": "°C"}
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _value(sensor: str, ts_ms: int) -> float:
    """A slow swing (40 min), a fast wobble and fine fractions, so a sloppy mean would show."""
    minutes = ts_ms % 86_400_000 / 60_000  # of the day
    if sensor == "temperature":
        return 15.0 + 4.0 * math.sin(minutes / 6.4) + minutes / 97.0 + 0.3 * math.sin(ts_ms / 997)
    return 55.0 + 9.0 * math.cos(minutes / 9.1) + 0.4 * math.cos(ts_ms / 1009)


@dataclass
class Timeline:
    """The bridge's readings from ``start`` on, and how many the test has delivered."""

    start: datetime
    step_ms: int = STEP_S * 1000
    hours: int = 5
    readings: list[Reading] = field(default_factory=list)
    delivered: int = 0

    def __post_init__(self) -> None:
        seq = 0
        for n in range((self.hours * 3600 + 900) * 1000 // self.step_ms):
            ts = _ms(self.start) + n * self.step_ms
            for sensor in SENSORS:
                seq += 1
                self.readings.append(Reading(DEVICE, sensor, _value(sensor, ts), ts, seq))

    def hour(self, index: int) -> datetime:
        return self.start + index * HOUR

    def take_until(self, moment: datetime) -> list[Reading]:
        """The readings not delivered yet with an event time before ``moment``."""
        end = _ms(moment)
        first = self.delivered
        while self.delivered < len(self.readings) and self.readings[self.delivered].ts_ms < end:
            self.delivered += 1
        return self.readings[first : self.delivered]

    def values(self, sensor: str, start: datetime, end: datetime) -> list[float]:
        low, high = _ms(start), _ms(end)
        return [r.value for r in self.readings if r.sensor_id == sensor and low <= r.ts_ms < high]

    def truth(self, sensor: str, index: int) -> tuple[float, float, float]:
        """Mean, min and max of every reading of ``sensor`` in hour ``index``."""
        values = self.values(sensor, self.hour(index), self.hour(index + 1))
        return math.fsum(values) / len(values), min(values), max(values)


@pytest.fixture
def timeline() -> Timeline:
    """Hour A starts at the second full hour from now, after the recorder's first run."""
    now = dt_util.utcnow()
    return Timeline(now.replace(minute=0, second=0, microsecond=0) + 2 * HOUR)


class Driver:
    """Moves the frozen clock minute by minute, as the recorder and the bridge would see it.

    ``twins`` are bridges without this integration (only MQTT's entities): they get the same
    states and availability, so the recorder alone compiles their hours, as without back-fill.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        bridge: FleetBridge,
        timeline: Timeline,
        twins: tuple[FleetBridge, ...] = (),
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.bridge = bridge
        self.timeline = timeline
        self.twins = twins
        self.live = True
        self.replayed: list[Reading] = []
        """Readings of the backlog that arrive more than 60 s after their event time."""

    async def settle(self) -> None:
        """Let the recorder, then the imports it set off, finish."""
        await async_wait_recording_done(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(self.hass)

    async def run_until(self, end: datetime) -> None:
        """Step to ``end``, 10 s past each minute (the recorder compiles at :00:10 of each 5).

        While the bridge is live, each step delivers the last minute's readings (at most
        60 s after their event time, so none counts as replayed) and the newest value on
        the state topics, as the bridge's filters would.
        """
        hass = self.hass
        moment = dt_util.utcnow().replace(second=10, microsecond=0) + MINUTE
        while moment <= end:
            self.freezer.move_to(moment)
            if moment.minute == 0:
                hour = (moment - self.timeline.start) // HOUR
                hass.states.async_set(OTHER, str(10 + hour), OTHER_ATTRIBUTES)
            if self.live:
                self.deliver(self.timeline.take_until(moment))
            async_fire_time_changed(hass, moment)
            await self.settle()
            moment += MINUTE

    def deliver(self, readings: list[Reading], *, states: bool = True) -> None:
        """Stream messages of at most ``STREAM_BATCH`` readings, then the newest states."""
        for first in range(0, len(readings), STREAM_BATCH):
            fire_stream(self.hass, self.bridge, readings[first : first + STREAM_BATCH])
        for sensor in SENSORS if readings and states else ():
            newest = [r for r in readings if r.sensor_id == sensor][-1]
            payload = json.dumps({"v": newest.value, "ts": newest.ts_ms, "seq": newest.seq})
            for bridge in (self.bridge, *self.twins):
                topic = bridge.topics.state(DEVICE, sensor)
                async_fire_mqtt_message(self.hass, topic, payload, 1)

    def availability(self, payload: str) -> None:
        """Said 5 s after the last state: at the same instant the recorder cannot order them."""
        self.freezer.tick(timedelta(seconds=5))
        for bridge in (self.bridge, *self.twins):
            async_fire_mqtt_message(self.hass, bridge.topics.availability, payload, 1)

    def offline(self) -> None:
        self.live = False
        self.availability("offline")

    def back_online(self) -> list[Reading]:
        """The bridge's return: ``online``, and its backlog (which never becomes states)."""
        self.live = True
        self.availability("online")
        now = dt_util.utcnow()
        backlog = self.timeline.take_until(now)
        self.replayed = [r for r in backlog if r.ts_ms < _ms(now) - 60_000]
        return backlog


async def _statistics(
    hass: HomeAssistant, timeline: Timeline, entity_ids: set[str]
) -> dict[str, list[Any]]:
    return await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        timeline.hour(0),
        timeline.hour(5),
        entity_ids,
        "hour",
        None,
        {"mean", "min", "max"},
    )


async def _check_every_hour(
    hass: HomeAssistant, bridge: FleetBridge, timeline: Timeline, caplog: pytest.LogCaptureFixture
) -> None:
    raw = {sensor: raw_entity_id(hass, bridge, DEVICE, sensor) for sensor in SENSORS}
    stats = await _statistics(hass, timeline, {*raw.values(), OTHER})

    for sensor, entity_id in raw.items():
        rows = stats[entity_id]
        starts = [datetime.fromtimestamp(row["start"], UTC) for row in rows]
        assert starts == [timeline.hour(index) for index in range(5)], sensor
        for index, row in enumerate(rows):
            mean, low, high = timeline.truth(sensor, index)
            assert math.isclose(row["mean"], mean, rel_tol=1e-9, abs_tol=0), (sensor, index)
            assert math.isclose(row["min"], low, rel_tol=1e-9, abs_tol=0), (sensor, index)
            assert math.isclose(row["max"], high, rel_tol=1e-9, abs_tol=0), (sensor, index)
    # The other entity: compiled by the recorder from its states, every hour, untouched.
    other = stats[OTHER]
    assert [row["mean"] for row in other[1:]] == pytest.approx(
        [(10 * (9 + index) + 3590 * (10 + index)) / 3600 for index in range(1, 5)]
    )
    assert [(row["min"], row["max"]) for row in other] == [
        (10.0, 10.0),
        *((9.0 + index, 10.0 + index) for index in range(1, 5)),
    ]
    assert "UNIQUE constraint" not in caplog.text
    assert "Error" not in caplog.text


async def _begin(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, driver: Driver, timeline: Timeline
) -> None:
    """Hour A live, then hours B to D offline, until 10 minutes into hour E."""
    freezer.move_to(timeline.start - MINUTE)
    hass.states.async_set(OTHER, "10", OTHER_ATTRIBUTES)
    driver.availability("online")
    await driver.run_until(timeline.hour(1))
    driver.offline()
    await driver.run_until(timeline.hour(4) + 10 * MINUTE)


async def test_a_three_hour_outage_is_filled_in(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    timeline: Timeline,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = Driver(hass, freezer, bridge, timeline)
    await _begin(hass, freezer, driver, timeline)
    raw = raw_entity_id(hass, bridge, DEVICE, "temperature")
    before = await _statistics(hass, timeline, {raw})
    assert len(before[raw]) == 1  # hour A only: B, C and D are a hole, as without back-fill

    driver.deliver(driver.back_online(), states=False)
    await driver.run_until(timeline.hour(5) + 6 * MINUTE)

    await _check_every_hour(hass, bridge, timeline, caplog)
    history = coordinator_of(entry).diagnostics()["history"]
    assert history["readings_backfilled"] == len(driver.replayed) > 2 * 3 * 3600 // STEP_S
    hours = {(r.sensor_id, (r.ts_ms - _ms(timeline.start)) // 3_600_000) for r in driver.replayed}
    assert history["hours_backfilled"] == len(hours) == 2 * 5  # the last minute of A, B to E
    waiting = coordinator_of(entry).history.history.dirty
    assert waiting == {(f"{DEVICE}/{sensor}", _ms(timeline.hour(5))) for sensor in SENSORS}


async def test_a_restart_in_the_middle_of_the_replay_loses_nothing(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    published: RetainedBroker,
    bridge: FleetBridge,
    timeline: Timeline,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = Driver(hass, freezer, bridge, timeline)
    await _begin(hass, freezer, driver, timeline)
    backlog = driver.back_online()
    half = len(backlog) // 2
    driver.deliver(backlog[:half], states=False)
    await hass.async_block_till_done()

    assert await hass.config_entries.async_unload(entry.entry_id)
    stored = hass_storage[f"{DOMAIN}.history.{bridge.bridge_id}"]["data"]
    assert stored["hours"]  # what the replay brought so far
    subscribed = published.subscriptions[bridge.description_topic] + 1
    assert await hass.config_entries.async_setup(entry.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))  # MQTT's batching
    await published.wait_for_subscription(bridge.description_topic, subscribed)
    await hass.async_block_till_done()
    driver.deliver(backlog[half:], states=False)
    await driver.run_until(timeline.hour(5) + 6 * MINUTE)

    await _check_every_hour(hass, bridge, timeline, caplog)


BENCH_STEP_MS = 250
"""4 readings/s per sensor, as the brief's fleet."""
REPORT = "IOT_MONITOR_BACKFILL_REPORT"
"""Where ``bench/backfill.py`` wants the measured figures (JSON); unset in the test suite."""


def _relative_error(value: float, truth: float) -> float:
    return abs(value - truth) / abs(truth)


async def test_a_two_hour_outage_at_4_readings_per_second(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    published: RetainedBroker,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hour A live, B and C offline (2 h exactly), D live; a twin bridge is the baseline.

    The twin has only MQTT's entities and gets the same states: its hours are what the
    recorder makes without back-fill, in the same run.
    """
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) + 2 * HOUR
    timeline = Timeline(start, step_ms=BENCH_STEP_MS, hours=4)
    twin = FleetBridge(bridge_id="twin-pi", name="Twin Pi", count=1)
    published.publish_bridge(twin)
    await hass.async_block_till_done()
    driver = Driver(hass, freezer, bridge, timeline, twins=(twin,))
    freezer.move_to(start - MINUTE)
    hass.states.async_set(OTHER, "10", OTHER_ATTRIBUTES)
    driver.availability("online")
    await driver.run_until(timeline.hour(1))
    outage_start = dt_util.utcnow()  # the last readings delivered live end here
    driver.offline()
    await driver.run_until(timeline.hour(3))
    outage_end = dt_util.utcnow()
    driver.deliver(driver.back_online(), states=False)
    await driver.run_until(timeline.hour(4) + 6 * MINUTE)

    sensor = "temperature"
    ours_id = raw_entity_id(hass, bridge, DEVICE, sensor)
    twin_id = raw_entity_id(hass, twin, DEVICE, sensor)
    stats = await _statistics(hass, timeline, {ours_id, twin_id})
    by_start = {entity_id: {row["start"]: row for row in rows} for entity_id, rows in stats.items()}
    hours: list[dict[str, Any]] = []
    for index in range(4):
        key = timeline.hour(index).timestamp()
        truth = timeline.truth(sensor, index)
        rows = [by_start.get(entity_id, {}).get(key) for entity_id in (ours_id, twin_id)]
        ours, baseline = (
            None if row is None else (row["mean"], row["min"], row["max"]) for row in rows
        )
        hours.append(
            {
                "start": timeline.hour(index).isoformat(),
                "readings": len(
                    timeline.values(sensor, timeline.hour(index), timeline.hour(index + 1))
                ),
                "truth": truth,
                "ours": ours,
                "baseline": baseline,
            }
        )
    present = sum(hour["ours"] is not None for hour in hours) / len(hours)
    errors = [
        _relative_error(value, true)
        for hour in hours
        if hour["ours"] is not None
        for value, true in zip(hour["ours"], hour["truth"], strict=True)
    ]
    outage_hours = hours[1:3]
    baseline_outage = sum(hour["baseline"] is not None for hour in outage_hours) / 2

    assert present == 1.0
    assert max(errors) <= 1e-9
    assert hours[1]["baseline"] is None  # without back-fill, hour B is a hole
    assert "UNIQUE constraint" not in caplog.text

    if path := os.environ.get(REPORT):
        states = await hass.async_add_executor_job(
            get_significant_states, hass, timeline.hour(0), timeline.hour(4), [twin_id]
        )
        short_term = await hass.async_add_executor_job(
            statistics_during_period,
            hass,
            timeline.hour(0),
            timeline.hour(4),
            {ours_id},
            "5minute",
            None,
            {"mean"},
        )
        minutes = [
            [
                (timeline.start + index * MINUTE).isoformat(),
                math.fsum(values) / len(values),
            ]
            for index in range(4 * 60)
            if (
                values := timeline.values(
                    sensor,
                    timeline.start + index * MINUTE,
                    timeline.start + (index + 1) * MINUTE,
                )
            )
        ]
        report = {
            "rate_hz": 1000 // BENCH_STEP_MS,
            "outage": [outage_start.isoformat(), outage_end.isoformat()],
            "hours": hours,
            "present": present,
            "present_baseline": sum(hour["baseline"] is not None for hour in hours) / len(hours),
            "present_baseline_outage": baseline_outage,
            "max_error": max(errors),
            "baseline_errors": [
                None
                if hour["baseline"] is None
                else max(
                    _relative_error(value, true)
                    for value, true in zip(hour["baseline"], hour["truth"], strict=True)
                )
                for hour in hours
            ],
            "short_term": [[row["start"], row["mean"]] for row in short_term[ours_id]],
            "minutes": minutes,
            "states": [
                [state.last_changed.isoformat(), state.state]
                for state in states[twin_id]
                if isinstance(state, State)
            ],
        }
        await hass.async_add_executor_job(Path(path).write_text, json.dumps(report, indent=1))


METER = DeviceSpec(
    "meter",
    "Meter",
    "Energy meter",
    sensors=(
        SensorSpec("energy", "Energy", unit="kWh", state_class="total_increasing"),
        SensorSpec("dust", "Dust", unit="counts", state_class="measurement"),
        SensorSpec("pm25", "PM2.5", unit="µg/m³", device_class="pm25", state_class="measurement"),
    ),
)
GONE = DeviceSpec(
    "gone",
    "Probe",
    "Level probe",
    sensors=(SensorSpec("level", "Level", unit="cm", state_class="measurement"),),
)
WITH_METER = FleetBridge(count=1, extra=(METER, GONE))


def _meter(n: int) -> float:
    """An energy total that a meter reset takes back to 0 at reading 500."""
    return 1000.0 + n / 8.0 if n < 500 else (n - 500) / 8.0


@pytest.mark.parametrize("bridge", [WITH_METER])
async def test_hours_the_recorder_never_compiles_are_imported_at_once(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    published: RetainedBroker,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A backlog from before the recorder's first run: sums, a unit to convert, and what is not.

    Temperature is shown in °F (the entity's unit option), so its hours are converted.
    Humidity already has statistics in a unit a percentage cannot be converted to: skipped.
    The probe leaves the bridge's description before the import: its hours are dropped.
    Status (text) and uptime (no state class) have no long-term statistics. CPU usage's entity
    is not there (yet): its hour waits. The meter has no device class, and dust's unit no unit
    class: the unit alone decides the unit class of a new statistic. PM2.5 is in "µg/m³" with
    the micro sign, which Home Assistant writes with the Greek mu.
    """
    registry = er.async_get(hass)
    temperature = raw_entity_id(hass, bridge, DEVICE, "temperature")
    humidity = raw_entity_id(hass, bridge, DEVICE, "humidity")
    energy = raw_entity_id(hass, bridge, "meter", "energy")
    dust = raw_entity_id(hass, bridge, "meter", "dust")
    pm25 = raw_entity_id(hass, bridge, "meter", "pm25")
    registry.async_remove(raw_entity_id(hass, bridge, "bridge", "cpu_usage"))
    registry.async_update_entity_options(
        temperature, "sensor", {"unit_of_measurement": UnitOfTemperature.FAHRENHEIT}
    )
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - 6 * HOUR
    async_import_statistics(
        hass,
        {
            "mean_type": StatisticMeanType.ARITHMETIC,
            "has_sum": False,
            "name": None,
            "source": "recorder",
            "statistic_id": humidity,
            "unit_class": None,
            "unit_of_measurement": "g",
        },
        [{"start": start - 4 * HOUR, "mean": 1.0, "min": 1.0, "max": 1.0}],
    )
    timeline = Timeline(start, step_ms=60_000, hours=4)
    measured = [r for r in timeline.readings if r.ts_ms < _ms(timeline.hour(4))]
    meter = [  # every 15 s
        Reading("meter", "energy", _meter(n), _ms(start) + n * 15_000) for n in range(4 * 240)
    ]
    others = [
        Reading("gone", "level", 12.5, _ms(start)),
        Reading(DEVICE, "status", "ok", _ms(start)),
        Reading("bridge", "host_uptime", 1234.0, _ms(start)),
        Reading("bridge", "cpu_usage", 12.0, _ms(start)),
        Reading("meter", "dust", 0.5, _ms(start)),
        Reading("meter", "pm25", 7.5, _ms(start)),
    ]
    # The spool numbers readings as they are taken: seqs in event-time order.
    backlog = [
        Reading(r.device_id, r.sensor_id, r.value, r.ts_ms, seq)
        for seq, r in enumerate(sorted([*measured, *meter, *others], key=lambda r: r.ts_ms), 1)
    ]
    driver = Driver(hass, freezer, bridge, timeline)
    driver.live = False  # the backlog above is all there is
    driver.deliver(backlog, states=False)
    published.publish(
        bridge.description_topic, FleetBridge(count=1, extra=(METER,)).description_payload()
    )
    await hass.async_block_till_done()
    history = coordinator_of(entry).history

    freezer.move_to(dt_util.utcnow().replace(second=10, microsecond=0) + 5 * MINUTE)
    await driver.run_until(dt_util.utcnow() + 5 * MINUTE)  # a compile and its event

    stats = await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        start - 5 * HOUR,
        timeline.hour(5),
        {temperature, humidity, energy, dust, pm25},
        "hour",
        None,
        {"mean", "min", "max", "state", "sum"},
    )
    for index, row in enumerate(stats[temperature]):
        truth = timeline.truth("temperature", index)
        shown = (row["mean"], row["min"], row["max"])
        for value, celsius in zip(shown, truth, strict=True):
            assert math.isclose(value, celsius * 9 / 5 + 32, rel_tol=1e-9, abs_tol=0)
    assert len(stats[temperature]) == 4
    assert len(stats[humidity]) == 1  # only the row in grams
    hourly = [[_meter(n) for n in range(240 * h, 240 * (h + 1))] for h in range(4)]
    expected = [hourly[0][-1] - hourly[0][0]]
    for before, hour in itertools.pairwise(hourly):
        growth = hour[-1] if hour[-1] < 0.9 * before[-1] else hour[-1] - before[-1]
        expected.append(expected[-1] + growth)
    assert [row["state"] for row in stats[energy]] == [hour[-1] for hour in hourly]
    assert [row["sum"] for row in stats[energy]] == pytest.approx(expected, rel=1e-12)
    metadata = await hass.async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={temperature, energy, dust, pm25})
    )
    assert metadata[temperature][1]["unit_of_measurement"] == UnitOfTemperature.FAHRENHEIT
    assert metadata[temperature][1]["unit_class"] == "temperature"
    assert metadata[energy][1]["unit_class"] == "energy"
    assert metadata[energy][1]["has_sum"]
    assert metadata[dust][1]["unit_class"] is None
    assert [row["mean"] for row in stats[dust]] == [0.5]
    assert [row["mean"] for row in stats[pm25]] == [7.5]  # the micro sign is the Greek mu
    assert metadata[pm25][1]["unit_of_measurement"] == "μg/m³"
    assert history.history.dirty == {("bridge/cpu_usage", _ms(start))}
    assert history.skipped == 4  # humidity's hours
    assert not [key for key in history.history.hours if key[0] == "gone/level"]

    # More of the meter's backlog: the sum goes on from the hour the recorder now has.
    seq = len(backlog)
    late = [
        Reading("meter", "energy", _meter(960 + n), _ms(timeline.hour(4)) + n * 15_000, seq + 1 + n)
        for n in range(240)
    ]
    driver.deliver(late, states=False)
    await driver.run_until(dt_util.utcnow() + 5 * MINUTE)
    stats = await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        timeline.hour(4),
        timeline.hour(5),
        {energy},
        "hour",
        None,
        {"state", "sum"},
    )
    assert stats[energy][0]["sum"] == pytest.approx(expected[-1] + late[-1].value - hourly[-1][-1])


@pytest.mark.usefixtures("recorder_mock")
async def test_an_unreadable_store_starts_afresh(
    hass: HomeAssistant,
    published: RetainedBroker,
    bridge: FleetBridge,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage[f"{DOMAIN}.history.{bridge.bridge_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.history.{bridge.bridge_id}",
        "data": {"hours": "not a list"},
    }
    entry = await async_setup_bridge(hass, published, bridge)

    assert "stored hours unreadable" in caplog.text
    history = coordinator_of(entry).history
    assert history.active
    assert history.history.hours == {}
