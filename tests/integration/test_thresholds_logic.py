"""Threshold logic without Home Assistant: hysteresis, replays, restore and the cooldown."""

from __future__ import annotations

import pytest

from custom_components.iot_monitor.thresholds import (
    Command,
    Cooldown,
    Crossing,
    Limits,
    Reaction,
    Status,
    Threshold,
    is_live,
)

ABOVE, BELOW, IN_RANGE = Status.ABOVE, Status.BELOW, Status.IN_RANGE
BAND = Limits(lower=10.0, upper=30.0, hysteresis=2.0)
HORIZON_MS = 70_000
NOW_MS = 1_000_000_000


def statuses(limits: Limits, values: list[float]) -> list[Status | None]:
    """The status after each of ``values``, one window each, all live."""
    threshold = Threshold(limits, HORIZON_MS)
    seen: list[Status | None] = []
    for n, value in enumerate(values):
        threshold.judge(value, n * 10_000, (n + 1) * 10_000, NOW_MS)
        seen.append(threshold.status)
    return seen


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Trips above the upper limit, not at it; clears only below upper - hysteresis.
        ([30.0, 30.5, 29.0, 28.0, 27.9], [IN_RANGE, ABOVE, ABOVE, ABOVE, IN_RANGE]),
        # The same below the lower limit: clears only above lower + hysteresis.
        ([10.0, 9.5, 11.0, 12.0, 12.1], [IN_RANGE, BELOW, BELOW, BELOW, IN_RANGE]),
        # A jump across the whole band goes from one side to the other.
        ([31.0, 5.0, 35.0], [ABOVE, BELOW, ABOVE]),
    ],
)
def test_hysteresis(values: list[float], expected: list[Status]) -> None:
    assert statuses(BAND, values) == expected


def test_one_limit_only() -> None:
    assert statuses(Limits(None, 30.0), [-1e9, 30.1, 29.99]) == [IN_RANGE, ABOVE, IN_RANGE]
    assert statuses(Limits(10.0, None), [1e9, 9.9, 10.01]) == [IN_RANGE, BELOW, IN_RANGE]


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        (Limits(None, None), "no_limit"),
        (Limits(30.0, 10.0), "lower_not_below_upper"),
        (Limits(10.0, 10.0), "lower_not_below_upper"),
        (Limits(10.0, 30.0, 10.0), "hysteresis_too_wide"),
        (Limits(10.0, 30.0, 9.9), None),
        (Limits(None, 30.0, 100.0), None),  # one limit: any hysteresis leaves a way back
    ],
)
def test_limit_problems(limits: Limits, problem: str | None) -> None:
    assert limits.problem() == problem


def test_limit_of_a_status() -> None:
    assert [BAND.limit(status) for status in (ABOVE, BELOW, IN_RANGE)] == [30.0, 10.0, None]


def test_transitions_and_what_fires() -> None:
    threshold = Threshold(BAND, HORIZON_MS)
    first = threshold.judge(20.0, 0, 10_000, 10_500)
    assert first is not None
    assert (first.previous, first.crossing.status, first.live) == (None, IN_RANGE, True)
    assert not first.fires  # nothing came back in range
    assert threshold.judge(25.0, 10_000, 20_000, 20_500) is None  # no change, nothing to do

    trip = threshold.judge(31.0, 20_000, 30_000, 30_500)
    assert trip is not None
    assert trip.fires
    assert trip.reaction is Reaction.TRIP
    assert trip.crossing == Crossing(ABOVE, 31.0, 20_000, 30_000)

    clear = threshold.judge(27.0, 30_000, 40_000, 40_500)
    assert clear is not None
    assert (clear.previous, clear.fires, clear.reaction) == (ABOVE, True, Reaction.CLEAR)


def test_a_first_problem_fires() -> None:
    transition = Threshold(BAND, HORIZON_MS).judge(40.0, 0, 10_000, 10_000)
    assert transition is not None
    assert transition.fires


def test_replayed_windows_change_the_status_but_fire_nothing() -> None:
    """A window that ended more than the horizon ago can only come from a replay."""
    threshold = Threshold(BAND, HORIZON_MS)
    now = 10_000_000
    old = threshold.judge(40.0, 0, 10_000, now)
    assert old is not None
    assert threshold.status is ABOVE
    assert not old.live
    assert not old.fires
    # The replay catches up: the window that just ended is news again.
    live = threshold.judge(20.0, now - 10_000, now, now + 500)
    assert live is not None
    assert live.fires
    assert threshold.status is IN_RANGE


@pytest.mark.parametrize(
    ("end_ms", "live"),
    [(NOW_MS, True), (NOW_MS + 5_000, True), (NOW_MS - HORIZON_MS, True), (NOW_MS - 70_001, False)],
)
def test_is_live(end_ms: int, live: bool) -> None:
    """A clock ahead on the bridge still counts as live."""
    assert is_live(end_ms, NOW_MS, HORIZON_MS) is live


def test_older_windows_and_missing_values_are_ignored() -> None:
    threshold = Threshold(BAND, HORIZON_MS)
    assert threshold.judge(40.0, 10_000, 20_000, 20_000) is not None
    assert threshold.judge(0.0, 0, 10_000, 20_000) is None  # older than the newest judged
    assert threshold.judge(None, 20_000, 30_000, 30_000) is None  # stdev of one reading
    assert threshold.judge(float("nan"), 20_000, 30_000, 30_000) is None
    assert threshold.status is ABOVE
    # The same window again, updated by a late reading, is judged again.
    assert threshold.judge(20.0, 10_000, 20_000, 20_000) is not None
    assert threshold.status is IN_RANGE


def test_restored_status_is_kept_not_recomputed() -> None:
    """Inside the hysteresis band a restored problem stays one; an empty start would say ok."""
    restored = Crossing(ABOVE, 31.0, 0, 10_000)
    threshold = Threshold(BAND, HORIZON_MS, restored, newest_end_ms=20_000)
    assert threshold.status is ABOVE
    assert threshold.judge(29.0, 20_000, 30_000, 30_000) is None  # in the band: still above
    assert threshold.judge(0.0, 10_000, 20_000, 30_000) is None  # before the restored newest
    assert Threshold(BAND, HORIZON_MS).judge(29.0, 0, 10_000, 10_000) is not None


def test_restored_status_under_new_limits() -> None:
    restored = Crossing(ABOVE, 31.0, 0, 10_000)
    threshold = Threshold(Limits(None, 35.0), HORIZON_MS, restored, 10_000)
    assert threshold.crossing == Crossing(IN_RANGE, 31.0, 0, 10_000)


def test_crossing_round_trip() -> None:
    crossing = Crossing(BELOW, 1.5, 0, 10_000)
    assert Crossing.from_dict(crossing.as_dict()) == crossing


TRIP_COMMAND = Command("set_config", {"settings": {"health": {"interval": 10}}})
CLEAR_COMMAND = Command("set_config", {"settings": {"health": {"interval": None}}})


def test_cooldown_sends_at_most_one_command_per_period() -> None:
    cooldown = Cooldown({Reaction.TRIP: TRIP_COMMAND, Reaction.CLEAR: CLEAR_COMMAND}, 60.0)
    assert cooldown.wait(0.0) is None
    cooldown.want(Reaction.TRIP)
    assert cooldown.take(0.0) == TRIP_COMMAND
    assert cooldown.take(1.0) is None  # sent already
    cooldown.want(Reaction.CLEAR)
    assert cooldown.take(10.0) is None
    assert cooldown.wait(10.0) == 50.0
    assert cooldown.take(60.0) == CLEAR_COMMAND
    assert cooldown.wait(60.0) is None


def test_a_trip_in_the_cooldown_cancels_the_clear_held_back() -> None:
    """The bridge still has what the trip sent: nothing more to send."""
    cooldown = Cooldown({Reaction.TRIP: TRIP_COMMAND, Reaction.CLEAR: CLEAR_COMMAND}, 60.0)
    cooldown.want(Reaction.TRIP)
    assert cooldown.take(0.0) == TRIP_COMMAND
    cooldown.want(Reaction.CLEAR)
    cooldown.want(Reaction.TRIP)
    assert cooldown.wait(10.0) is None
    assert cooldown.take(60.0) is None


def test_without_a_clear_command_a_new_trip_is_sent_again() -> None:
    cooldown = Cooldown({Reaction.TRIP: TRIP_COMMAND, Reaction.CLEAR: None}, 60.0)
    cooldown.want(Reaction.TRIP)
    assert cooldown.take(0.0) == TRIP_COMMAND
    cooldown.want(Reaction.CLEAR)
    assert cooldown.wait(5.0) is None  # nothing to send
    cooldown.want(Reaction.TRIP)
    assert cooldown.take(10.0) is None
    assert cooldown.take(60.0) == TRIP_COMMAND
