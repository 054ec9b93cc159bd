"""Absolute deadlines: the period never stretches, missed ticks are skipped, not bunched."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.drivers.schedule import Ticker, next_deadline


def test_on_time_deadlines_are_one_interval_apart() -> None:
    assert next_deadline(10.0, 2.0, now=10.001) == 12.0


def test_a_deadline_due_exactly_now_is_kept() -> None:
    assert next_deadline(10.0, 2.0, now=12.0) == 12.0


def test_missed_deadlines_are_skipped_keeping_the_phase() -> None:
    # The sample due at 10 finished at 15.5: 12 and 14 are gone, 16 is next.
    assert next_deadline(10.0, 2.0, now=15.5) == pytest.approx(16.0)


@given(
    deadline=st.floats(min_value=0, max_value=1e6),
    interval=st.floats(min_value=1e-3, max_value=1e3),
    late=st.floats(min_value=0, max_value=1e4),
)
def test_next_deadline_is_ahead_and_in_phase(deadline: float, interval: float, late: float) -> None:
    now = deadline + late
    following = next_deadline(deadline, interval, now)
    assert following >= now - 1e-6
    assert following - now <= interval * (1 + 1e-6) + 1e-6
    periods = (following - deadline) / interval
    assert periods == pytest.approx(round(periods), abs=1e-3)
    assert round(periods) >= 1


async def test_ticker_does_not_drift_with_slow_work() -> None:
    loop = asyncio.get_running_loop()
    interval = 0.02
    ticker = Ticker(interval)
    start = loop.time()
    wakes = []
    for _ in range(6):
        await ticker.wait()
        wakes.append(loop.time() - start)
        time.sleep(interval / 4)  # noqa: ASYNC251 - a "sample" that blocks, like a slow read
    # Deadlines stay on the grid: a sleep-after-work loop would be 5 ms later per tick.
    for n, woke in enumerate(wakes):
        assert woke >= n * interval
    assert wakes[-1] < 5 * interval + interval / 4 * 3
