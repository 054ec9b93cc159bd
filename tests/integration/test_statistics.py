"""The statistics engine against brute-force recomputation over the exact window."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.iot_monitor.statistics import (
    DuplicateFilter,
    Outcome,
    SensorWindow,
    WindowKind,
    WindowResult,
)

TUMBLING, SLIDING = WindowKind.TUMBLING, WindowKind.SLIDING


def result_of(window: SensorWindow) -> WindowResult:
    """The result of a window that the test has given one."""
    result = window.result()
    assert result is not None
    return result


@dataclass
class Reference:
    """The documented semantics, recomputed from every accepted reading on each question."""

    kind: WindowKind
    length_ms: int
    lateness_ms: int
    accepted: list[tuple[int, int, float]] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)
    max_ts: int | None = None

    def add(self, ts: int, seq: int, value: float) -> Outcome:
        if not math.isfinite(value):
            return Outcome.INVALID
        if self.max_ts is not None and ts < self.max_ts - self.lateness_ms:
            return Outcome.LATE
        if seq in self.seqs:
            return Outcome.DUPLICATE
        self.seqs.add(seq)
        self.accepted.append((ts, len(self.accepted), value))
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)
        return Outcome.ACCEPTED

    def result(self) -> WindowResult | None:
        if self.max_ts is None:
            return None
        length = self.length_ms
        if self.kind is SLIDING:
            start, end = self.max_ts - length, self.max_ts
            items = [item for item in self.accepted if start < item[0] <= end]
        else:
            complete = [
                ts // length
                for ts, _, _ in self.accepted
                if (ts // length + 1) * length <= self.max_ts
            ]
            if not complete:
                return None
            start = max(complete) * length
            end = start + length
            items = [item for item in self.accepted if start <= item[0] < end]
        values = [value for _, _, value in items]
        first, last = min(items), max(items)
        span = last[0] - first[0]
        return WindowResult(
            start_ms=start,
            end_ms=end,
            count=len(values),
            mean=statistics.mean(values),
            min=min(values),
            max=max(values),
            stdev=statistics.stdev(values) if len(values) > 1 else None,
            rate_of_change=(last[2] - first[2]) / (span / 60_000) if span else None,
        )


def assert_same(actual: WindowResult | None, expected: WindowResult | None) -> None:
    """Bit for bit: the engine's mean and deviation are correctly rounded, like the stdlib's."""
    assert actual == expected


# --- Random streams: disorder within (and beyond) the lateness, replays, invalid values ---

Event = tuple[int, int, float]  # ts_ms, seq, value

finite_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e-3, 1e-3, allow_nan=False).map(lambda noise: 1e9 + noise),  # large offset
    st.sampled_from([0.0, -0.0, 21.5, 21.5]),  # ties for min, max and monotonic deques
)
any_values = st.one_of(finite_values, st.sampled_from([math.nan, math.inf, -math.inf]))


@st.composite
def configurations(draw: st.DrawFn) -> tuple[int, int]:
    """Window length and lateness in ms, either one the larger."""
    return draw(st.integers(1, 4000)), draw(st.integers(0, 4000))


@st.composite
def streams(draw: st.DrawFn, lateness_ms: int, values: st.SearchStrategy[float]) -> list[Event]:
    """Readings in arrival order: delayed by up to a bit more than the lateness, some replayed."""
    count = draw(st.integers(1, 120))
    ts = draw(st.integers(0, 2_000_000_000_000))
    events: list[tuple[int, Event]] = []
    for seq in range(count):
        ts += draw(st.integers(0, 400))  # zero gaps give equal event times
        delay = draw(st.integers(0, lateness_ms + 300))
        events.append((ts + delay, (ts, seq, draw(values))))
    events.sort(key=lambda arrival: arrival[0])
    arrived = [event for _, event in events]
    for index in draw(st.lists(st.integers(0, count - 1), max_size=10)):  # replays
        arrived.insert(draw(st.integers(index, len(arrived))), arrived[index])
    return arrived


def feed_and_compare(
    kind: WindowKind, length_ms: int, lateness_ms: int, events: list[Event]
) -> SensorWindow:
    window = SensorWindow(kind, length_ms / 1000, lateness_ms / 1000)
    reference = Reference(kind, length_ms, lateness_ms)
    for ts, seq, value in events:
        assert window.add(ts, seq, value) == reference.add(ts, seq, value)
        assert window.watermark_ms == (
            None if reference.max_ts is None else reference.max_ts - lateness_ms
        )
        assert_same(window.result(), reference.result())
    return window


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
@settings(max_examples=150, deadline=None)
@given(data=st.data(), configuration=configurations())
def test_matches_recomputation_over_the_exact_window(
    kind: WindowKind, data: st.DataObject, configuration: tuple[int, int]
) -> None:
    length_ms, lateness_ms = configuration
    events = data.draw(streams(lateness_ms, any_values))
    window = feed_and_compare(kind, length_ms, lateness_ms, events)
    outcomes = Reference(kind, length_ms, lateness_ms)
    counted = Counter(outcomes.add(*event) for event in events)
    assert (window.accepted, window.late, window.duplicates, window.invalid) == (
        counted[Outcome.ACCEPTED],
        counted[Outcome.LATE],
        counted[Outcome.DUPLICATE],
        counted[Outcome.INVALID],
    )


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
@settings(deadline=None)
@given(data=st.data(), configuration=configurations())
def test_any_finite_values_never_raise(
    kind: WindowKind, data: st.DataObject, configuration: tuple[int, int]
) -> None:
    """Values up to the float limits: variances beyond float range still give a deviation."""
    length_ms, lateness_ms = configuration
    events = data.draw(streams(lateness_ms, st.floats(allow_nan=False, allow_infinity=False)))
    window = SensorWindow(kind, length_ms / 1000, lateness_ms / 1000)
    reference = Reference(kind, length_ms, lateness_ms)
    for event in events:
        window.add(*event)
        reference.add(*event)
    assert window.result() == reference.result()


def test_long_disordered_stream() -> None:
    """Every other reading overtaken: the out-of-order buffer fills, drains and is rebuilt.

    The overtaken readings carry the extremes, so the buffer's own min and max decide the
    window's; a slow wave leaves the dead entries of one value heap or the other at its bottom,
    where only a rebuild removes them. The merge into the settled run keeps min, max and the
    first reading exact.
    """
    rng = random.Random(7)
    events = []
    for seq in range(4000):
        ts = seq * 250
        value = 100 * math.sin(seq / 300)
        if seq % 2:
            events.append((ts + rng.randrange(1, 6000), (ts, seq, value + rng.uniform(-200, 200))))
        else:
            events.append((ts, (ts, seq, value + rng.gauss(0, 3))))
    events.sort()
    window = SensorWindow(SLIDING, 20.0, 8.0)
    reference = Reference(SLIDING, 20_000, 8_000)
    for _, event in events:
        assert window.add(*event) == reference.add(*event)
        assert_same(window.result(), reference.result())
    assert window.late == 0


# --- Numerical stability ---


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
def test_stdev_accurate_on_large_offsets(kind: WindowKind) -> None:
    rng = random.Random(1)
    window = SensorWindow(kind, 120.0, 0.0)
    values = [1e9 + rng.gauss(0, 0.01) for _ in range(480)]
    for seq, value in enumerate(values):
        window.add(seq * 250, seq, value)
    window.add(480 * 250, 480, 0.0)  # completes the tumbling window, slides one out
    result = result_of(window)
    exact = values if kind is TUMBLING else [*values[1:], 0.0]
    assert result.count == len(exact)
    assert result.mean == statistics.mean(exact)
    assert result.stdev == statistics.stdev(exact)


def test_stdev_correctly_rounded() -> None:
    """Many small windows: the deviation's single rounding is right even next to a tie."""
    rng = random.Random(4)
    window = SensorWindow(SLIDING, 0.003, 0.0)
    values: list[float] = []
    for seq in range(30_000):
        values.append(rng.uniform(-1000, 1000))
        window.add(seq, seq, values[-1])
        result = result_of(window)
        if seq:
            assert result.stdev == statistics.stdev(values[-3:])


def welford_with_removal(values: list[float], size: int) -> tuple[float, float]:
    """M2 and sample deviation of the last ``size`` values by Welford's update and its inverse:
    the float alternative to the engine's exact sums (docs/statistics.md)."""
    count, mean, m2 = 0, 0.0, 0.0
    for index, value in enumerate(values):
        count += 1
        delta = value - mean
        mean += delta / count
        m2 += delta * (value - mean)
        if index >= size:
            leaving = values[index - size]
            delta = leaving - mean
            count -= 1
            mean -= delta / count
            m2 -= delta * (leaving - mean)
    return m2, math.sqrt(max(m2, 0.0) / (count - 1))


def test_sliding_stays_exact_after_huge_values_leave() -> None:
    """Removal is exact: once readings near 1e9 slide out, tiny spreads are still measured.

    Welford's running mean/M2 with removal ends this stream with M2 off by about 2e5 and a
    deviation of 47.5 instead of 0.001.
    """
    rng = random.Random(2)
    values = [1e9 + rng.gauss(0, 1e3) for _ in range(2000)] + [
        rng.gauss(0, 1e-3) for _ in range(400)
    ]
    window = SensorWindow(SLIDING, 10.0, 0.0)
    for seq, value in enumerate(values):
        window.add(seq * 100, seq, value)
    in_window = values[-100:]
    result = result_of(window)
    assert result.count == 100
    assert result.mean == statistics.mean(in_window)
    assert result.stdev == statistics.stdev(in_window)
    assert round(result.stdev, 4) == 0.001

    welford_m2, welford_stdev = welford_with_removal(values, 100)
    assert round(welford_m2, -5) == 2e5
    assert round(welford_stdev, 1) == 47.5


# --- The streaming example: 8 devices x 4 msg/s, 10 s tumbling windows, 1 min watermark ---


def fleet_stream(seconds: int) -> list[tuple[str, str, int, int, float]]:
    """Readings of 8 devices at 4 Hz (device, sensor, ts, seq, value), in arrival order.

    Each device has its own phase and a network delay of up to 1.5 s, so readings of different
    devices and of one device overtake each other; seqs follow event time, as the bridge's
    spool assigns them.
    """
    rng = random.Random(20241103)
    start = 1_730_638_574_123
    readings = []
    for device in range(8):
        phase = rng.randrange(250)
        temperature, humidity, battery = (
            rng.uniform(19, 27),
            rng.uniform(40, 65),
            rng.uniform(40, 100),
        )
        for tick in range(seconds * 4):
            temperature += rng.gauss(0, 0.05)
            humidity += rng.gauss(0, 0.2)
            battery -= rng.uniform(0, 0.02)
            ts = start + phase + tick * 250
            for sensor, value in (
                ("temperature", round(temperature, 2)),
                ("humidity", round(humidity, 1)),
                ("battery", round(battery, 2)),
            ):
                readings.append((ts, f"device-{device}", sensor, value))
    readings.sort(key=lambda reading: reading[0])
    arrivals = [
        (ts + rng.uniform(0, 1500), device, sensor, ts, seq, value)
        for seq, (ts, device, sensor, value) in enumerate(readings)
    ]
    arrivals.sort(key=lambda arrival: arrival[0])
    return [(device, sensor, ts, seq, value) for _, device, sensor, ts, seq, value in arrivals]


def test_streaming_example_counts_means_and_battery_range() -> None:
    stream = fleet_stream(seconds=125)
    windows: dict[tuple[str, str], SensorWindow] = defaultdict(
        lambda: SensorWindow(TUMBLING, 10, 60)
    )
    final: dict[tuple[str, str, int], WindowResult] = {}
    for device, sensor, ts, seq, value in stream:
        window = windows[device, sensor]
        before = window.result()
        assert window.add(ts, seq, value) is Outcome.ACCEPTED
        after = window.result()
        if before is not None and after is not None and after.start_ms != before.start_ms:
            final[device, sensor, before.start_ms] = before  # replaced: nothing more can reach it
    for (device, sensor), window in windows.items():
        shown = result_of(window)
        final[device, sensor, shown.start_ms] = shown

    expected: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    newest: dict[tuple[str, str], int] = defaultdict(int)
    for device, sensor, ts, _, value in stream:
        expected[device, sensor, ts - ts % 10_000].append(value)
        newest[device, sensor] = max(newest[device, sensor], ts)
    first_window = min(start for _, _, start in expected)

    assert set(final) == {key for key in expected if key[2] + 10_000 <= newest[key[:2]]}
    assert len({start for _, _, start in final}) == 12
    for (device, sensor, start), result in final.items():
        values = expected[device, sensor, start]
        assert result.count == len(values)
        if start != first_window:
            assert result.count == 40  # 4 msg/s x 10 s
        assert result.mean == statistics.mean(values)
        if sensor == "battery":
            assert (result.min, result.max) == (min(values), max(values))


def test_streaming_example_replay_and_stragglers_leave_results_alone() -> None:
    """After an outage the spool resends what was not acknowledged; a straggler is too old."""
    stream = fleet_stream(seconds=90)
    windows: dict[tuple[str, str], SensorWindow] = defaultdict(
        lambda: SensorWindow(TUMBLING, 10, 60)
    )
    for device, sensor, ts, seq, value in stream:
        windows[device, sensor].add(ts, seq, value)
    shown = {key: window.result() for key, window in windows.items()}
    newest = max(ts for _, _, ts, _, _ in stream)
    replay = [reading for reading in stream if reading[2] > newest - 20_000]
    for device, sensor, ts, seq, value in replay:
        assert windows[device, sensor].add(ts, seq, value + 1) is Outcome.DUPLICATE
    window = windows["device-0", "temperature"]
    assert window.add(newest - 61_000, len(stream), 99.0) is Outcome.LATE
    assert {key: each.result() for key, each in windows.items()} == shown
    assert sum(each.duplicates for each in windows.values()) == len(replay) > 0
    assert (window.late, window.invalid) == (1, 0)


# --- Semantics, one rule at a time ---


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
def test_watermark_trails_newest_event_time_by_the_lateness(kind: WindowKind) -> None:
    window = SensorWindow(kind, 10, 60)
    watermarks = [window.watermark_ms]
    for seq, ts in enumerate([100_000, 90_000, 130_000]):  # the older one does not move it back
        window.add(ts, seq, 1.0)
        watermarks.append(window.watermark_ms)
    assert watermarks == [None, 40_000, 40_000, 70_000]


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
def test_outcomes_and_counters(kind: WindowKind) -> None:
    window = SensorWindow(kind, 10, 60)
    assert window.add(100_000, 1, 20.0) is Outcome.ACCEPTED
    assert window.add(40_000, 2, 20.0) is Outcome.ACCEPTED  # exactly on the watermark
    assert window.add(39_999, 3, 20.0) is Outcome.LATE
    assert window.add(100_000, 1, 20.0) is Outcome.DUPLICATE
    assert window.add(99_000, 2, 21.0) is Outcome.DUPLICATE  # same seq, whatever it carries
    assert window.add(100_500, 4, math.nan) is Outcome.INVALID
    assert window.add(100_500, 5, math.inf) is Outcome.INVALID
    assert (window.late, window.duplicates, window.invalid) == (1, 2, 2)
    assert window.watermark_ms == 40_000  # rejected readings do not move event time


def test_tumbling_shows_nothing_until_a_window_is_complete() -> None:
    window = SensorWindow(TUMBLING, 10, 60)
    window.add(1_000, 1, 20.0)
    window.add(9_999, 2, 22.0)
    assert window.result() is None
    window.add(10_000, 3, 30.0)  # event time reached the end of [0, 10 s)
    assert window.result() == WindowResult(
        start_ms=0,
        end_ms=10_000,
        count=2,
        mean=21.0,
        min=20.0,
        max=22.0,
        stdev=statistics.stdev([20.0, 22.0]),
        rate_of_change=2.0 / (8_999 / 60_000),
    )


def test_tumbling_late_reading_within_lateness_updates_the_shown_window() -> None:
    window = SensorWindow(TUMBLING, 10, 60)
    for seq, (ts, value) in enumerate([(1_000, 10.0), (2_000, 20.0), (12_000, 0.0)]):
        window.add(ts, seq, value)
    assert window.add(3_000, 10, 60.0) is Outcome.ACCEPTED
    result = result_of(window)
    assert (result.start_ms, result.count, result.mean, result.max) == (0, 3, 30.0, 60.0)


def test_tumbling_window_closes_when_the_watermark_passes_its_end() -> None:
    window = SensorWindow(TUMBLING, 10, 60)
    window.add(5_000, 1, 1.0)
    window.add(70_000, 2, 2.0)  # watermark 10 s: [0, 10 s) is closed
    assert window.add(9_999, 3, 3.0) is Outcome.LATE
    assert window.add(10_000, 4, 4.0) is Outcome.ACCEPTED  # [10 s, 20 s) is still open
    result = result_of(window)
    assert (result.start_ms, result.count, result.mean) == (10_000, 1, 4.0)


def test_tumbling_keeps_showing_the_newest_complete_window_after_a_gap() -> None:
    """A sensor silent for minutes: its last complete window stays shown, even when closed."""
    window = SensorWindow(TUMBLING, 10, 60)
    window.add(5_000, 1, 1.0)
    window.add(15_000, 2, 2.0)
    window.add(300_000, 3, 3.0)
    result = result_of(window)
    assert (result.start_ms, result.count, result.mean) == (10_000, 1, 2.0)


def test_tumbling_late_reading_into_a_newer_complete_window_is_shown() -> None:
    window = SensorWindow(TUMBLING, 10, 60)
    window.add(5_000, 1, 1.0)
    window.add(45_000, 2, 2.0)
    shown = result_of(window)
    assert shown.start_ms == 0
    window.add(25_000, 3, 7.0)  # fills [20 s, 30 s), complete and newer than [0, 10 s)
    shown = result_of(window)
    assert (shown.start_ms, shown.mean) == (20_000, 7.0)


def test_sliding_covers_the_last_window_length_up_to_the_newest_reading() -> None:
    window = SensorWindow(SLIDING, 10, 60)
    for seq, (ts, value) in enumerate([(0, 5.0), (4_000, 1.0), (10_000, 3.0), (12_000, 9.0)]):
        window.add(ts, seq, value)
    assert window.result() == WindowResult(
        start_ms=2_000,
        end_ms=12_000,
        count=3,
        mean=statistics.mean([1.0, 3.0, 9.0]),
        min=1.0,
        max=9.0,
        stdev=statistics.stdev([1.0, 3.0, 9.0]),
        rate_of_change=8.0 / (8_000 / 60_000),
    )


def test_sliding_reading_behind_the_window_but_within_lateness_changes_nothing() -> None:
    window = SensorWindow(SLIDING, 10, 60)
    window.add(50_000, 1, 5.0)
    before = window.result()
    assert window.add(20_000, 2, 100.0) is Outcome.ACCEPTED
    assert window.result() == before
    assert window.add(20_000, 2, 100.0) is Outcome.DUPLICATE


@pytest.mark.parametrize("kind", [TUMBLING, SLIDING])
def test_single_reading_and_equal_event_times_have_no_spread_or_rate(kind: WindowKind) -> None:
    window = SensorWindow(kind, 10, 0)
    window.add(1_000, 1, 5.0)
    window.add(1_000, 2, 7.0)
    window.add(10_000 if kind is TUMBLING else 1_000, 3, 7.0)
    result = result_of(window)
    assert result.rate_of_change is None  # two or more readings, no event time between them
    window = SensorWindow(kind, 10, 0)
    window.add(1_000, 1, 5.0)
    window.add(10_000 if kind is TUMBLING else 11_000, 2, 7.0)  # completes / slides past it
    result = result_of(window)
    assert (result.count, result.stdev, result.rate_of_change) == (1, None, None)


@pytest.mark.parametrize(
    ("length_s", "lateness_s"),
    [(0, 60), (0.0004, 60), (-1, 60), (10, -1), (math.nan, 60), (10, math.inf)],
)
def test_rejects_impossible_configurations(length_s: float, lateness_s: float) -> None:
    with pytest.raises(ValueError, match="must be at least"):
        SensorWindow(SLIDING, length_s, lateness_s)


def test_duplicate_filter_forgets_what_the_watermark_passed() -> None:
    """4 Hz for an hour, 60 s lateness, arrivals up to 2 s out of order: memory stays bounded.

    ``seen`` is driven as the window drives its own: each reading, then the watermark.
    """
    rng = random.Random(3)
    window = SensorWindow(SLIDING, 10, 60)
    seen = DuplicateFilter()
    arrivals = sorted((seq * 250 + rng.uniform(0, 2_000), seq) for seq in range(4 * 3600))
    largest = 0
    for _, seq in arrivals:
        assert window.add(seq * 250, seq, 1.0) is Outcome.ACCEPTED
        assert seen.add(seq, seq * 250)
        watermark = window.watermark_ms
        assert watermark is not None
        seen.forget_before(watermark)
        largest = max(largest, len(seen))
    assert largest <= 2 * 4 * 62
    assert not seen.add(4 * 3600 - 1, 0)  # still remembered: inside the horizon
    seen.forget_before(4 * 3600 * 250)
    assert len(seen) == 0
