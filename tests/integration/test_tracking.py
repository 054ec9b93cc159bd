"""The per-bridge statistics writer: one write per interval, in slices that yield the loop."""

from __future__ import annotations

import asyncio

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant

from custom_components.iot_monitor.tracking import StatisticsWriter
from tests.integration.bridge_entry import async_pass_throttle


class FakeTrack:
    """Counts its writes, as a SensorTrack's entities would see them."""

    def __init__(self) -> None:
        self.writes = 0

    def async_publish(self) -> None:
        self.writes += 1


async def test_a_large_write_yields_the_loop_between_slices(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StatisticsWriter, "SLICE_S", -1.0)  # every slice is one track long
    writer = StatisticsWriter(hass, 1.0)
    tracks = [FakeTrack() for _ in range(5)]
    for track in tracks:
        writer.async_changed(track)  # type: ignore[arg-type]
    assert sum(track.writes for track in tracks) == 0  # written in a task, not at once
    await asyncio.sleep(0)  # the task starts: the first slice
    for written in range(1, 6):
        assert sum(track.writes for track in tracks) == written
        await asyncio.sleep(0)  # one more pass of the loop: one more slice
    await hass.async_block_till_done()
    assert [track.writes for track in tracks] == [1] * 5
    writer.async_cancel()


async def test_changes_in_the_interval_are_written_once_at_its_end(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    writer = StatisticsWriter(hass, 1.0)
    first, second = FakeTrack(), FakeTrack()
    writer.async_changed(first)  # type: ignore[arg-type]
    await hass.async_block_till_done()
    assert (first.writes, second.writes) == (1, 0)
    for _ in range(3):
        writer.async_changed(first)  # type: ignore[arg-type]
        writer.async_changed(second)  # type: ignore[arg-type]
    writer.async_forget(second)  # type: ignore[arg-type]  # a sensor the bridge dropped
    await hass.async_block_till_done()
    assert (first.writes, second.writes) == (1, 0)
    await async_pass_throttle(hass, freezer)
    assert (first.writes, second.writes) == (2, 0)
    await async_pass_throttle(hass, freezer)
    assert (first.writes, second.writes) == (2, 0)  # nothing changed: nothing written
    writer.async_cancel()
