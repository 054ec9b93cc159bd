"""Per-sensor tracking: one event-time window per numeric sensor and calm state writes.

A ``SensorTrack`` owns a sensor's window, its latest result and the entities that show it.
It is given what it needs (the window settings, the sensor) and knows nothing of the
coordinator that made it. One ``StatisticsWriter`` per bridge decides when tracks write.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .contract.description import DeviceDescription, SensorDescription
from .statistics import Outcome, SensorWindow, WindowKind, WindowResult


@dataclass(frozen=True, slots=True)
class WindowSettings:
    """The options every window of a bridge shares."""

    kind: WindowKind
    length: float
    lateness: float
    throttle: float
    """Seconds between state writes of a bridge's statistics at most."""


class Listeners:
    """Callbacks to run after each update, such as the entities' state writes."""

    def __init__(self) -> None:
        """Start with no listener."""
        self._callbacks: list[CALLBACK_TYPE] = []

    @callback
    def add(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` on each ``notify``; return the remover."""
        self._callbacks.append(listener)
        return lambda: self._callbacks.remove(listener)

    @callback
    def notify(self) -> None:
        """Call every listener."""
        for listener in self._callbacks:
            listener()


class StatisticsWriter:
    """Writes the statistics of a bridge's changed sensors: at most once per interval, in slices.

    One writer per bridge, not one timer per sensor: sensors fed by the same stream message
    would otherwise write together and stay in step, a burst of hundreds of state writes in
    one turn of the event loop. Here the first change after a quiet interval is written at
    once (in a task, so the whole stream message lands first), later ones wait for the
    interval's end, and a write of many sensors yields the loop every ``SLICE_S``.
    """

    SLICE_S: Final = 0.004
    """Longest run of state writes before the loop gets to do something else."""

    def __init__(self, hass: HomeAssistant, interval: float) -> None:
        """Write at most every ``interval`` seconds."""
        self._hass = hass
        self._interval = interval
        self._dirty: dict[SensorTrack, None] = {}
        """Tracks with readings not yet written, in the order they changed (an ordered set)."""
        self._job = HassJob(
            self._async_cooldown_over, "iot_monitor statistics writer", cancel_on_shutdown=True
        )
        self._cooldown: CALLBACK_TYPE | None = None
        self._writing: asyncio.Task[None] | None = None

    @callback
    def async_changed(self, track: SensorTrack) -> None:
        """Note that ``track``'s window changed; its entities are told soon."""
        self._dirty[track] = None
        if self._cooldown is None and self._writing is None:
            self._async_start_writing()

    @callback
    def async_forget(self, track: SensorTrack) -> None:
        """Drop a track that is going away."""
        self._dirty.pop(track, None)

    @callback
    def _async_start_writing(self) -> None:
        self._writing = self._hass.async_create_task(
            self._async_write(), "iot_monitor statistics writer", eager_start=False
        )

    async def _async_write(self) -> None:
        loop = self._hass.loop
        dirty = self._dirty
        deadline = loop.time() + self.SLICE_S
        while dirty:
            track = next(iter(dirty))
            del dirty[track]
            track.async_publish()
            if dirty and loop.time() > deadline:
                await asyncio.sleep(0)  # let the loop run before the next slice
                deadline = loop.time() + self.SLICE_S
        self._writing = None
        self._cooldown = async_call_later(self._hass, self._interval, self._job)

    @callback
    def _async_cooldown_over(self, _now: datetime) -> None:
        self._cooldown = None
        if self._dirty:
            self._async_start_writing()

    @callback
    def async_cancel(self) -> None:
        """Stop the timer and the write in progress; what was not written yet is dropped."""
        if self._cooldown is not None:
            self._cooldown()
            self._cooldown = None
        if self._writing is not None:
            self._writing.cancel()
            self._writing = None
        self._dirty.clear()


class SensorTrack:
    """One numeric sensor of a bridge: its window, latest result and the entities showing it."""

    def __init__(
        self, settings: WindowSettings, device: DeviceDescription, sensor: SensorDescription
    ) -> None:
        """Track ``sensor`` of ``device`` with windows made to ``settings``."""
        self.device_id = device.id
        self.identifier = device.identifier
        self.sensor = sensor
        self.window = SensorWindow(settings.kind, settings.length, settings.lateness)
        self.result: WindowResult | None = None
        self.listeners = Listeners()
        """Told after each (throttled) update of ``result``."""

    def describes(self, device: DeviceDescription, sensor: SensorDescription) -> bool:
        """Whether the entities made for this track still fit the described sensor."""
        return (device.identifier, sensor) == (self.identifier, self.sensor)

    def add(self, ts_ms: int, seq: int, value: float) -> bool:
        """Add one reading to the window; ``True`` if it counted (not late, not a duplicate)."""
        return self.window.add(ts_ms, seq, value) is Outcome.ACCEPTED

    @callback
    def async_publish(self) -> None:
        """Take the window's current result and tell the entities (the writer calls this)."""
        self.result = self.window.result()
        self.listeners.notify()

    def diagnostics(self) -> dict[str, Any]:
        """Counts and the latest result, for the diagnostics download."""
        return {
            "accepted": self.window.accepted,
            "late": self.window.late,
            "duplicates": self.window.duplicates,
            "result": None if self.result is None else asdict(self.result),
        }
