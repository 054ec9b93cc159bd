"""The hourly aggregates behind the back-fill, tested directly (no Home Assistant)."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.iot_monitor.backfill import (
    CLOSE_AFTER_MS,
    COMPILE_PERIOD_MS,
    FUTURE_MS,
    HOUR_MS,
    MAX_AGE_MS,
    MAX_INTERVALS,
    HourAggregate,
    HourlyHistory,
    HourSum,
    Outcome,
    SeqSet,
    chain_sums,
)

H0 = 1_795_852_800_000
"""2026-11-28T08:00:00Z, the start of an hour."""

values = st.one_of(
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    st.floats(-1e-300, 1e-300, allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6).map(float),
)


@given(st.lists(st.tuples(values, st.integers(0, HOUR_MS - 1)), min_size=1, max_size=200))
def test_aggregate_is_exact_in_any_order(readings: list[tuple[float, int]]) -> None:
    shuffled = list(enumerate(readings))
    random.Random(len(readings)).shuffle(shuffled)
    aggregate = HourAggregate()
    for seq, (value, offset) in shuffled:
        aggregate.add(H0 + offset, seq, value, replayed=False)

    exact = sum(Fraction(value) for value, _ in readings) / len(readings)
    assert aggregate.mean == float(exact)  # correctly rounded, bit for bit
    assert aggregate.min == min(value for value, _ in readings)
    assert aggregate.max == max(value for value, _ in readings)
    ordered = sorted((H0 + offset, seq, value) for seq, (value, offset) in enumerate(readings))
    assert aggregate.first == ordered[0]
    assert aggregate.last == ordered[-1]
    stored = json.loads(json.dumps(aggregate.to_json()))
    assert HourAggregate.from_json(stored) == aggregate


def test_seq_set_keeps_runs_and_refuses_what_it_has_seen() -> None:
    seqs = SeqSet()
    assert all(seqs.add(seq) for seq in range(1, 101))
    assert seqs.runs == [[1, 100]]
    assert not seqs.add(50)
    assert seqs.add(103)
    assert seqs.add(105)
    assert seqs.runs == [[1, 100], [103, 103], [105, 105]]
    assert seqs.add(104)  # joins both sides
    assert seqs.add(102)  # joins the right
    assert seqs.add(101)
    assert seqs.runs == [[1, 105]]
    assert not seqs.add(105)
    assert seqs.add(0)  # joins the left end of the first run
    assert seqs.runs == [[0, 105]]
    assert seqs.add(110)
    assert seqs.add(106)  # extends a run that is not the last
    assert seqs.runs == [[0, 106], [110, 110]]


def test_seq_set_is_bounded() -> None:
    seqs = SeqSet()
    for n in range(MAX_INTERVALS + 10):
        assert seqs.add(10 * n)
    assert len(seqs.runs) == MAX_INTERVALS
    assert seqs.runs[0] == [100, 100]
    assert not seqs.add(5)  # below what is remembered: long past


def test_readings_are_sorted_into_hours_once() -> None:
    history = HourlyHistory()
    now = H0 + 2 * HOUR_MS
    assert history.add("d/t", H0 + 10, 1, 20.0, now) is Outcome.ADDED
    assert history.add("d/t", H0 + 20, 2, 22.0, now) is Outcome.ADDED
    assert history.add("d/t", H0 + HOUR_MS, 3, 30.0, now) is Outcome.ADDED
    assert history.add("d/t", H0 + 20, 2, 22.0, now) is Outcome.DUPLICATE
    assert history.add("d/t", now + FUTURE_MS + 1, 4, 1.0, now) is Outcome.FUTURE
    history.seen(5)  # a text reading between them
    assert not history.seen(5)

    assert history.hours[("d/t", H0)].mean == 21.0
    assert history.hours[("d/t", H0)].replayed == 2  # they arrived two hours late
    assert history.dirty == {("d/t", H0), ("d/t", H0 + HOUR_MS)}
    assert (history.duplicates, history.future, history.replayed) == (2, 1, 3)
    assert history.seqs.runs == [[1, 5]]


def test_an_hour_is_importable_once_the_recorder_has_passed_its_last_period() -> None:
    history = HourlyHistory()
    now = H0 + 3 * HOUR_MS
    history.add("d/t", H0 + 10, 1, 20.0, now)
    history.add("d/t", H0 + HOUR_MS + 10, 2, 21.0, now)

    assert history.importable(None) == []  # the recorder has never compiled anything
    assert history.importable(H0 + COMPILE_PERIOD_MS - 300_000) == []  # H:50 is not enough
    assert history.importable(H0 + COMPILE_PERIOD_MS) == [("d/t", H0)]
    # An hour older than the recorder's first run is never compiled: importable at once.
    assert history.importable(H0 + 10 * HOUR_MS) == [("d/t", H0), ("d/t", H0 + HOUR_MS)]


def test_closed_hours_are_dropped_once_imported_and_refuse_readings() -> None:
    history = HourlyHistory()
    now = H0 + 3 * HOUR_MS
    history.add("d/t", H0 + 10, 1, 20.0, now)
    history.add("d/t", H0 + 2 * HOUR_MS, 2, 21.0, now)  # replayed: event time moves on
    history.add("d/t", H0 + 2 * HOUR_MS + CLOSE_AFTER_MS - HOUR_MS, 3, 21.0, now)
    assert history.is_closed(H0)
    assert not history.is_closed(H0 + HOUR_MS)

    history.imported([("d/t", H0), ("d/t", H0 + HOUR_MS)])

    assert ("d/t", H0) not in history.hours
    assert ("d/t", H0 + HOUR_MS) in history.hours  # still open: kept
    assert history.add("d/t", H0 + 20, 4, 5.0, now) is Outcome.CLOSED
    assert history.add("d/t", H0 + HOUR_MS + 20, 5, 5.0, now) is Outcome.ADDED
    assert history.dirty == {("d/t", H0 + HOUR_MS), ("d/t", H0 + 2 * HOUR_MS)}
    # Each back-filled hour counts once, its replayed readings once each.
    assert (history.hours_imported, history.hours_backfilled) == (2, 2)
    assert history.readings_backfilled == 2
    history.imported([("d/t", H0 + HOUR_MS)])
    assert (history.hours_imported, history.hours_backfilled) == (3, 2)
    assert history.readings_backfilled == 3


def test_hours_older_than_the_replay_bound_are_refused_and_pruned() -> None:
    history = HourlyHistory()
    now = H0 + MAX_AGE_MS + 2 * HOUR_MS
    assert history.add("d/t", H0, 1, 1.0, now) is Outcome.CLOSED
    history.add("d/t", H0 + 3 * HOUR_MS, 2, 1.0, H0 + 3 * HOUR_MS)
    assert history.prune(H0 + 3 * HOUR_MS + MAX_AGE_MS + 2 * HOUR_MS) == 1
    assert history.hours == {}
    assert history.dirty == set()


def test_skipped_and_forgotten_hours_leave_nothing_to_import() -> None:
    history = HourlyHistory()
    now = H0 + 3 * HOUR_MS
    history.add("d/a", H0, 1, 1.0, now)
    history.add("d/b", H0, 2, 1.0, now)
    history.add("d/a", H0 + 2 * HOUR_MS, 3, 1.0, now)
    history.add("d/b", H0 + 2 * HOUR_MS, 4, 1.0, now)
    history.skip([("d/a", H0), ("d/a", H0 + 2 * HOUR_MS)])
    assert set(history.hours) == {("d/a", H0 + 2 * HOUR_MS), ("d/b", H0), ("d/b", H0 + 2 * HOUR_MS)}
    history.forget("d/b")
    assert list(history.hours) == [("d/a", H0 + 2 * HOUR_MS)]  # open: kept for more readings
    assert history.dirty == set()
    assert history.hours_imported == 0


def test_live_hours_are_imported_but_not_back_filled() -> None:
    history = HourlyHistory()
    history.add("d/t", H0 + 10, 1, 20.0, H0 + 20)
    history.add("d/t", H0 + HOUR_MS + CLOSE_AFTER_MS, 2, 20.0, H0 + HOUR_MS + CLOSE_AFTER_MS)
    history.imported([("d/t", H0)])
    assert (history.hours_imported, history.hours_backfilled, history.replayed) == (1, 0, 0)
    assert ("d/t", H0) not in history.hours  # closed: 5 minutes past its end


def test_everything_held_survives_json() -> None:
    history = HourlyHistory()
    now = H0 + 3 * HOUR_MS
    for seq in range(1, 50):
        history.add("d/t", H0 + seq * 100_000, seq, 1e9 + seq / 7, now)
    history.add("d/h", H0 + HOUR_MS + 30, 60, 48.5, now)
    history.imported([("d/t", H0), ("d/h", H0 + HOUR_MS)])  # the second stays: still open
    history.add("d/h", H0 + 2 * HOUR_MS, 61, 48.0, now)

    restored = HourlyHistory.from_json(json.loads(json.dumps(history.to_json())))

    assert restored.hours == history.hours
    assert restored.dirty == history.dirty
    assert restored.seqs.runs == history.seqs.runs
    assert restored.newest_ms == history.newest_ms
    kept = ("hours_backfilled", "readings_backfilled", "hours_imported", "replayed")
    assert [restored.diagnostics()[key] for key in kept] == [
        history.diagnostics()[key] for key in kept
    ]
    assert history.hours_backfilled == 2
    assert ("d/h", H0 + HOUR_MS) in restored.hours
    assert ("d/h", H0 + HOUR_MS) not in restored.dirty


def test_sums_continue_from_the_hour_before() -> None:
    lasts = [110.0, 130.0, 5.0]  # a meter reset in the third hour

    increasing = chain_sums(HourSum(state=95.0, sum=40.0), 100.0, lasts, increasing=True)
    assert increasing == [HourSum(110.0, 55.0), HourSum(130.0, 75.0), HourSum(5.0, 80.0)]
    total = chain_sums(HourSum(state=95.0, sum=40.0), 100.0, lasts, increasing=False)
    assert total[-1] == HourSum(5.0, -50.0)  # a total may fall
    assert chain_sums(None, 100.0, lasts[:1], increasing=True) == [HourSum(110.0, 10.0)]


@pytest.mark.parametrize("count", [1, 14_400])
def test_an_hour_at_4_readings_per_second_has_the_exact_mean(count: int) -> None:
    rng = random.Random(count)
    readings = [round(rng.gauss(21.5, 3.0), 2) for _ in range(count)]
    hour = HourAggregate()
    for seq, value in enumerate(readings):
        hour.add(H0 + seq * 250, seq, value, replayed=True)
    assert hour.mean == float(sum(map(Fraction, readings)) / count)
    assert hour.replayed == count
