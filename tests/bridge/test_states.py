"""State filters, pure: when a sensor's state topic gets its newest reading, and the ``state:``
settings in the configuration that make them."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.config import ConfigError, parse_config
from iot_monitor_bridge.contract.description import SensorKind
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.states import SAMPLED_THROTTLE_S, StateFilter, StateGate

_seq = iter(range(1, 10**9))


def reading(value: Any, seq: int | None = None) -> Reading:
    return Reading(
        "boiler", "water_temp", value, 1_767_268_800_000, next(_seq) if seq is None else seq
    )


def gate(throttle: float = 0.0, delta: float = 0.0, heartbeat: float = 0.0) -> StateGate:
    return StateGate(StateFilter(throttle, delta, heartbeat))


def simulate(
    state_gate: StateGate, readings: list[tuple[float, Any]], until: float
) -> list[tuple[float, Any]]:
    """What the publisher does with ``state_gate``: offer each ``(time, value)`` reading, and
    publish the newest whenever the gate says it is due (at once, or by a timer). Returns
    the ``(time, value)`` of every state published up to ``until``."""
    published: list[tuple[float, Any]] = []
    pending = list(readings)
    now = -math.inf
    while True:
        due = state_gate.due()
        next_reading = pending[0][0] if pending else math.inf
        if due is not None and due <= max(now, next_reading) and max(due, now) <= until:
            now = max(due, now)
            latest = state_gate.mark_published(now)
            assert latest is not None
            published.append((now, latest.value))
            continue
        if not pending or next_reading > until:
            return published
        now, value = pending.pop(0)
        state_gate.offer(reading(value))


# ----- defaults per kind -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "throttle"),
    [
        (SensorKind.NUMERIC, SAMPLED_THROTTLE_S),
        (SensorKind.LOCATION, SAMPLED_THROTTLE_S),
        (SensorKind.BINARY, 0.0),
        (SensorKind.ENUM, 0.0),
        (SensorKind.TEXT, 0.0),
        (None, 0.0),  # an output
    ],
)
def test_the_default_throttle_depends_on_the_kind(kind: SensorKind | None, throttle: float) -> None:
    assert StateFilter().resolved(kind) == StateFilter(throttle, 0.0, 0.0)
    assert StateFilter(delta=0.5, heartbeat=60).resolved(kind) == StateFilter(throttle, 0.5, 60)


@pytest.mark.parametrize("kind", [*(k for k in SensorKind if k is not SensorKind.EVENT), None])
def test_a_throttle_that_was_set_is_kept_zero_included(kind: SensorKind | None) -> None:
    assert StateFilter(0.0).resolved(kind).throttle == 0.0
    assert StateFilter(2.5, 0.1, 30).resolved(kind) == StateFilter(2.5, 0.1, 30)


def test_an_event_is_published_once_whatever_the_settings() -> None:
    once = StateFilter(0.0, once=True)
    assert StateFilter().resolved(SensorKind.EVENT) == once
    assert StateFilter(2.5, 0.1, 30).resolved(SensorKind.EVENT) == once


def test_an_event_gate_publishes_each_reading_once_and_never_repeats_it() -> None:
    state = StateGate(StateFilter().resolved(SensorKind.EVENT))
    sale = reading({"event_type": "sale"})
    assert state.offer(sale)
    assert state.due() == -math.inf
    state.mark_published(1.0)
    assert state.due() is None  # no heartbeat, no re-send
    same = reading({"event_type": "sale"})  # the same payload again is a new event
    assert state.offer(same)
    assert state.due() == -math.inf


def test_the_defaults_in_seconds() -> None:
    assert SAMPLED_THROTTLE_S == 10.0
    assert StateFilter() == StateFilter(None, 0.0, 0.0)


# ----- the gate --------------------------------------------------------------------------------


def test_nothing_is_due_before_a_reading_and_the_first_is_due_at_once() -> None:
    state = gate(throttle=10)
    assert state.due() is None
    assert state.latest is None
    assert state.published is None
    first = reading(20.0)
    assert state.offer(first)
    assert state.due() == -math.inf
    assert state.mark_published(5.0) is first
    assert state.published is first
    assert state.due() is None  # shown; nothing newer


def test_a_changed_value_is_due_a_throttle_after_the_last_state() -> None:
    state = gate(throttle=10)
    state.offer(reading(20.0))
    state.mark_published(100.0)
    state.offer(reading(21.0))
    assert state.due() == 110.0
    state.offer(reading(22.0))
    assert state.due() == 110.0  # the same end of the period, whatever comes meanwhile
    assert state.mark_published(110.0) == state.latest
    assert state.latest is not None
    assert state.latest.value == 22.0


def test_without_throttle_a_change_is_due_at_once() -> None:
    state = gate()
    state.offer(reading(True))
    state.mark_published(100.0)
    state.offer(reading(False))
    assert state.due() == 100.0  # not later than now: at once


def test_the_same_value_again_is_not_news_unless_a_heartbeat_is_set() -> None:
    state = gate(throttle=10)
    state.offer(reading("eco"))
    state.mark_published(100.0)
    state.offer(reading("eco"))
    assert state.due() is None
    with_heartbeat = gate(throttle=10, heartbeat=60)
    with_heartbeat.offer(reading("eco"))
    with_heartbeat.mark_published(100.0)
    with_heartbeat.offer(reading("eco"))
    assert with_heartbeat.due() == 160.0


def test_back_to_the_published_value_is_not_due_any_more() -> None:
    state = gate(throttle=10)
    state.offer(reading(20.0))
    state.mark_published(100.0)
    state.offer(reading(21.0))
    assert state.due() == 110.0
    state.offer(reading(20.0))
    assert state.due() is None  # the topic shows this value already


@pytest.mark.parametrize(
    ("new", "due"),
    [(20.4, None), (19.6, None), (20.5, 100.0), (19.5, 100.0), (25, 100.0)],
)
def test_delta_applies_to_numbers(new: float, due: float | None) -> None:
    state = gate(delta=0.5)
    state.offer(reading(20.0))
    state.mark_published(100.0)
    state.offer(reading(new))
    assert state.due() == due


def test_delta_is_measured_from_the_published_value_not_the_last_reading() -> None:
    state = gate(delta=0.5)
    state.offer(reading(20.0))
    state.mark_published(100.0)
    for value in (20.2, 20.4):  # creeping: each step small, together not
        state.offer(reading(value))
        assert state.due() is None
    state.offer(reading(20.6))
    assert state.due() == 100.0


@pytest.mark.parametrize(
    ("old", "new"),
    [(True, False), ("eco", "boost"), ({"latitude": 1.0}, {"latitude": 1.1})],
)
def test_delta_leaves_other_values_alone_any_change_counts(old: Any, new: Any) -> None:
    state = gate(delta=100)
    state.offer(reading(old))
    state.mark_published(100.0)
    state.offer(reading(new))
    assert state.due() == 100.0


def test_a_heartbeat_republishes_the_newest_reading() -> None:
    state = gate(throttle=10, heartbeat=60)
    first = reading(20.0)
    state.offer(first)
    state.mark_published(0.0)
    assert state.due() == 60.0
    assert state.mark_published(60.0) is first  # the same reading again
    assert state.due() == 120.0
    newer = reading(20.0)  # the same value, a newer reading
    state.offer(newer)
    assert state.due() == 120.0
    assert state.mark_published(120.0) is newer


def test_an_older_or_repeated_seq_never_replaces_the_newest() -> None:
    state = gate()
    newest = reading(21.0, seq=10)
    assert state.offer(newest)
    assert not state.offer(reading(20.0, seq=9))
    assert not state.offer(reading(22.0, seq=10))
    assert state.latest is newest
    state.mark_published(0.0)
    assert not state.offer(reading(19.0, seq=3))
    assert state.due() is None
    assert state.published is newest


@given(st.lists(st.tuples(st.integers(1, 10**6), st.floats(-50, 50)), max_size=40))
def test_the_latest_is_always_the_highest_seq_offered(offers: list[tuple[int, float]]) -> None:
    state = gate(throttle=10)
    best: Reading | None = None
    for seq, value in offers:
        offered = reading(value, seq=seq)
        assert state.offer(offered) == (best is None or seq > best.seq)
        if best is None or seq > best.seq:
            best = offered
        assert state.latest is best


# ----- the gate over time: what a state topic carries ---------------------------------------


def test_throttle_publishes_at_most_once_a_period_and_ends_on_the_newest_value() -> None:
    readings = [(t * 0.25, 20 + t / 100) for t in range(int(35 / 0.25))]  # 4 Hz for 35 s
    published = simulate(gate(throttle=10), readings, until=60)
    assert [t for t, _ in published] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert [v for _, v in published] == [20 + i / 100 for i in (0, 39, 79, 119, 139)]
    assert published[-1][1] == readings[-1][1]  # the state ends on the newest reading


def test_a_lone_change_inside_the_period_waits_for_its_end() -> None:
    published = simulate(gate(throttle=10), [(0, "a"), (3, "b"), (30, "c")], until=60)
    assert published == [(0, "a"), (10, "b"), (30, "c")]


def test_heartbeat_over_time() -> None:
    published = simulate(gate(throttle=10, heartbeat=30), [(0, 1.0), (50, 2.0)], until=100)
    assert published == [(0, 1.0), (30, 1.0), (50, 2.0), (80, 2.0)]


def test_delta_over_time_with_the_trailing_publish() -> None:
    state = gate(throttle=10, delta=1.0)
    published = simulate(state, [(0, 20.0), (2, 20.5), (4, 21.2), (6, 21.4)], until=60)
    assert published == [(0, 20.0), (10, 21.4)]  # at the period's end: the newest
    state = gate(throttle=10, delta=1.0)
    published = simulate(state, [(0, 20.0), (2, 20.5), (4, 21.2), (6, 20.9)], until=60)
    assert published == [(0, 20.0)]  # the newest is within delta of what the topic shows


GAPS = st.sampled_from((0.0, 0.25, 1.0, 4.0, 12.0))
"""Seconds between two readings: binary fractions, so sums of them are exact."""


@given(
    st.lists(st.tuples(GAPS, st.integers(0, 3)), min_size=1),
    st.sampled_from((0.0, 1.0, 10.0)),
)
def test_a_throttled_topic_is_spaced_and_always_ends_on_the_newest_value(
    steps: list[tuple[float, int]], throttle: float
) -> None:
    readings, now = [], 0.0
    for gap, value in steps:
        now += gap
        readings.append((now, value))
    published = simulate(gate(throttle=throttle), readings, until=math.inf)
    times = [t for t, _ in published]
    assert all(later - earlier >= throttle for earlier, later in itertools.pairwise(times))
    assert published[-1][1] == readings[-1][1]
    # Never the same value twice in a row (without a heartbeat, a repeat is not news).
    values = [v for _, v in published]
    assert all(a != b for a, b in itertools.pairwise(values))


# ----- the configuration ---------------------------------------------------------------------

SENSOR = "{id: water_temp, type: ds18b20, address: 28-0316a2794bff, interval: 1s%s}"


def _config(sensor_state: str = "", fleet_state: str = "") -> str:
    return (
        f"devices:\n"
        f"  - {{id: boiler, sensors: [{SENSOR % sensor_state}]}}\n"
        f"  - {{id: fleet, simulate: {{count: 2{fleet_state}}}}}\n"
    )


@pytest.mark.parametrize(
    ("written", "throttle", "delta", "heartbeat"),
    [
        ("", None, 0.0, 0.0),
        (", state: {}", None, 0.0, 0.0),
        (", state: {throttle: 30s, delta: 0.2, heartbeat: 15m}", 30.0, 0.2, 900.0),
        (", state: {throttle: 500ms}", 0.5, 0.0, 0.0),
        (", state: {throttle: 2}", 2.0, 0.0, 0.0),
        (", state: {throttle: 0}", 0.0, 0.0, 0.0),
        (", state: {throttle: 0.0}", 0.0, 0.0, 0.0),
        (", state: {throttle: off}", 0.0, 0.0, 0.0),  # YAML 1.1: a bare off is false
        (", state: {throttle: 'off'}", 0.0, 0.0, 0.0),
        (", state: {throttle: false}", 0.0, 0.0, 0.0),
        (", state: {throttle: 0s}", 0.0, 0.0, 0.0),
        (", state: {throttle: 0ms, heartbeat: 0.0m}", 0.0, 0.0, 0.0),
        (", state: {heartbeat: off, delta: 1}", None, 1.0, 0.0),
        (", state: {heartbeat: 1h}", None, 0.0, 3600.0),
    ],
)
def test_state_settings_are_read_per_sensor_and_per_fleet(
    written: str, throttle: float | None, delta: float, heartbeat: float
) -> None:
    config = parse_config(_config(written, written))
    sensor, fleet = config.devices[0].sensors[0], config.devices[1].simulate
    assert fleet is not None
    for state in (sensor.state, fleet.state):
        assert (state.throttle, state.delta, state.heartbeat) == (throttle, delta, heartbeat)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("state: {throttle: soon}", "state.throttle: expected a duration"),
        ("state: {throttle: -1}", "state.throttle: expected a duration"),
        ("state: {throttle: on}", "state.throttle: expected a duration"),
        ("state: {throttle: [1]}", "state.throttle: expected a duration"),
        ("state: {heartbeat: true}", "state.heartbeat: expected a duration"),
        ("state: {heartbeat: -2s}", "state.heartbeat: expected a duration"),
        ("state: {delta: -0.1}", "state.delta: expected `float` >= 0"),
        ("state: {delta: x}", "state.delta: expected `float`"),
        ("state: {bogus: 1}", "state.bogus: unknown key"),
        ("state: 5", "state: expected `object`"),
    ],
)
def test_bad_state_settings_are_named_by_their_key_path(written: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(f", {written}", f", {written}"))
    problems = caught.value.problems
    for where in ("devices[0].sensors[0].", "devices[1].simulate."):
        assert any(line.startswith(where + problem) for line in problems), problems


def test_the_device_set_carries_each_sensors_filter() -> None:
    config = parse_config(
        "devices:\n"
        "  - {id: boiler, sensors: [" + SENSOR % ", state: {throttle: 30s, delta: 0.2}" + ",\n"
        "      {id: dust, type: serial, port: /dev/ttyUSB0, protocol: sds011,"
        " state: {heartbeat: 5m}}]}\n"
        "  - {id: fleet, simulate: {count: 2, state: {throttle: off}}}\n"
    )
    filters = build_device_set(config).state_filters
    assert filters[("boiler", "water_temp")] == StateFilter(30.0, 0.2, 0.0)
    # One sensor entry, several sensors (PM2.5 and PM10): each gets the entry's filter.
    assert filters[("boiler", "dust_pm25")] == filters[("boiler", "dust_pm10")]
    assert filters[("boiler", "dust_pm25")] == StateFilter(None, 0.0, 300.0)
    fleet = {key: value for key, value in filters.items() if key[0].startswith("fleet_")}
    assert {device for device, _ in fleet} == {"fleet_1", "fleet_2"}
    assert len(fleet) == 2 * 5
    assert set(fleet.values()) == {StateFilter(0.0, 0.0, 0.0)}
