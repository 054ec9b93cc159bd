"""What a state topic carries: only the newest reading of a sensor, and calmly.

Home Assistant's MQTT entities record every state they receive. A 4 Hz sensor would write
four rows a second into the recorder, so each sensor's state topic goes through a filter in
the spirit of ESPHome's sensor filters, while the stream still carries every reading:

- ``throttle``: at most one state per period; a value that arrives inside the period is
  published at its end (the newest one then), so the state never ends on an old value.
- ``delta``: a number within ``delta`` of the last published one is not news.
- ``heartbeat``: the newest value is published again after this long without a state.

Events (``SensorKind.EVENT``) are the exception: each live one is published once, as it
happens, and never again (a re-send would fire it again in Home Assistant); those that
happen without a broker reach Home Assistant on the stream only.

Pure: ``StateGate`` says *when* to publish; the publisher does the publishing and the timers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from iot_monitor_bridge.contract.description import SensorKind
from iot_monitor_bridge.contract.readings import Reading

SAMPLED_THROTTLE_S: Final = 10.0
"""Default throttle of numeric sensors and locations: one state per 10 s at most."""


@dataclass(frozen=True, slots=True)
class StateFilter:
    """The state filter settings of one sensor; ``throttle=None`` takes the kind's default."""

    throttle: float | None = None
    delta: float = 0.0
    heartbeat: float = 0.0
    once: bool = False
    """Publish each reading once, live, never again: an event."""

    def resolved(self, kind: SensorKind | None) -> StateFilter:
        """Return these settings with the default throttle of ``kind`` filled in.

        Numbers and locations change with every sample and are throttled; edges (binary
        sensors), enums, text and outputs (``kind`` ``None``) publish every change.
        """
        if kind is SensorKind.EVENT:
            return StateFilter(0.0, once=True)
        if self.throttle is not None:
            return self
        sampled = kind in (SensorKind.NUMERIC, SensorKind.LOCATION)
        return StateFilter(SAMPLED_THROTTLE_S if sampled else 0.0, self.delta, self.heartbeat)


class StateGate:
    """Decides when one sensor's state topic gets its newest reading."""

    __slots__ = ("_filter", "_published_at", "latest", "once", "published")

    def __init__(self, state_filter: StateFilter) -> None:
        """Use resolved ``state_filter`` settings (no ``None`` throttle)."""
        self._filter = state_filter
        self.once = state_filter.once
        """Each reading is published at most once, when it comes (an event)."""
        self.latest: Reading | None = None
        """The newest reading the bridge has of this sensor."""
        self.published: Reading | None = None
        """The reading the state topic carries now (as far as the bridge knows)."""
        self._published_at = -math.inf

    def offer(self, reading: Reading) -> bool:
        """Take a new reading; ``False`` if it is older than the newest one (never shown)."""
        if self.latest is not None and reading.seq <= self.latest.seq:
            return False
        self.latest = reading
        return True

    def due(self) -> float | None:
        """Return when ``latest`` should be published (maybe in the past), or ``None``: never."""
        latest, published = self.latest, self.published
        if latest is None:
            return None
        if published is None:
            return -math.inf
        if self.once:
            return -math.inf if latest is not published else None
        if latest is not published and self._differs(latest.value, published.value):
            return self._published_at + (self._filter.throttle or 0.0)
        if self._filter.heartbeat > 0:
            return self._published_at + self._filter.heartbeat
        return None

    def mark_published(self, now: float) -> Reading | None:
        """Record that ``latest`` was published at ``now``; returns it."""
        self.published = self.latest
        self._published_at = now
        return self.latest

    def _differs(self, new: object, old: object) -> bool:
        delta = self._filter.delta
        if (
            delta > 0
            and isinstance(new, int | float)
            and isinstance(old, int | float)
            and not isinstance(new, bool)
            and not isinstance(old, bool)
        ):
            return abs(new - old) >= delta
        return new != old
