"""Window thresholds: limits with hysteresis on one statistic, and the commands they trigger.

Pure: no Home Assistant imports. The binary sensor of each threshold (binary_sensor.py) feeds
it the windows its sensor's statistics show and acts on what it returns. The rules are in
docs/integration.md, "Thresholds".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .statistics import WindowResult

STATISTIC_VALUES: Final[Mapping[str, Callable[[WindowResult], float | None]]] = {
    "mean": lambda result: result.mean,
    "min": lambda result: result.min,
    "max": lambda result: result.max,
    "stdev": lambda result: result.stdev,
    "count": lambda result: result.count,
    "rate_of_change": lambda result: result.rate_of_change,
}
"""Each statistic a threshold can watch, by the key its sensor entity has."""


class Status(StrEnum):
    """Where the statistic is; also the event's and the device triggers' type."""

    IN_RANGE = "in_range"
    ABOVE = "above"
    BELOW = "below"


class Reaction(StrEnum):
    """Which of a threshold's commands a change calls for."""

    TRIP = "trip"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Limits:
    """Lower and upper limit (either may be absent) and the hysteresis of both.

    It trips above ``upper`` and clears only below ``upper - hysteresis``; it trips below
    ``lower`` and clears only above ``lower + hysteresis``. A value in between keeps the
    status, so a statistic hovering at a limit does not flap.
    """

    lower: float | None
    upper: float | None
    hysteresis: float = 0.0

    def problem(self) -> str | None:
        """Why these limits cannot work (a config flow error key), or ``None``."""
        if self.lower is None and self.upper is None:
            return "no_limit"
        if self.lower is not None and self.upper is not None:
            if self.lower >= self.upper:
                return "lower_not_below_upper"
            if 2 * self.hysteresis >= self.upper - self.lower:
                return "hysteresis_too_wide"
        return None

    def status(self, previous: Status | None, value: float) -> Status:
        """The status after a window with ``value``, given the one before it."""
        upper, lower, band = self.upper, self.lower, self.hysteresis
        if upper is not None and (
            value > upper or (previous is Status.ABOVE and value >= upper - band)
        ):
            return Status.ABOVE
        if lower is not None and (
            value < lower or (previous is Status.BELOW and value <= lower + band)
        ):
            return Status.BELOW
        return Status.IN_RANGE

    def limit(self, status: Status) -> float | None:
        """The limit a status is about: the upper one for ``ABOVE``, the lower for ``BELOW``."""
        if status is Status.ABOVE:
            return self.upper
        if status is Status.BELOW:
            return self.lower
        return None


@dataclass(frozen=True, slots=True)
class Crossing:
    """The window that set a threshold's status, in event time (epoch milliseconds)."""

    status: Status
    value: float
    start_ms: int
    end_ms: int

    def as_dict(self) -> dict[str, Any]:
        """For Home Assistant's restore storage."""
        return {
            "status": self.status.value,
            "value": self.value,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Crossing:
        """Read ``as_dict``'s output; raise ``KeyError``, ``TypeError`` or ``ValueError``."""
        return cls(
            Status(data["status"]),
            float(data["value"]),
            int(data["start_ms"]),
            int(data["end_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of status, and whether it is news to act on now."""

    crossing: Crossing
    previous: Status | None
    live: bool
    """The window closed recently; ``False`` for one replayed after an outage."""

    @property
    def fires(self) -> bool:
        """Whether the change fires the event, the device triggers and the commands.

        Only live changes do, and a first status fires only when it is a problem: nothing
        came back in range.
        """
        return self.live and (
            self.previous is not None or self.crossing.status is not Status.IN_RANGE
        )

    @property
    def reaction(self) -> Reaction:
        """Out of range (either side) trips; back in range clears."""
        return Reaction.CLEAR if self.crossing.status is Status.IN_RANGE else Reaction.TRIP


def is_live(end_ms: int, now_ms: int, horizon_ms: int) -> bool:
    """Whether a window that ends at ``end_ms`` of event time is news at ``now_ms``.

    A window stays open for late readings until the watermark passes its end, so one that
    ended more than ``horizon_ms`` (window length plus lateness) ago can only arrive in a
    replay: it updates the status, but what it reports is history.
    """
    return end_ms >= now_ms - horizon_ms


class Threshold:
    """The status of one threshold, moved on by the windows of its statistic."""

    def __init__(
        self,
        limits: Limits,
        horizon_ms: int,
        restored: Crossing | None = None,
        newest_end_ms: int | None = None,
    ) -> None:
        """Start from the status before a restart: ``restored``, judged by ``limits``.

        Limits changed since are applied to the restored window's value at once, with the
        restored status as the one before: no empty window decides anything.
        """
        self.limits = limits
        self.horizon_ms = horizon_ms
        self.crossing = restored
        if restored is not None:
            status = limits.status(restored.status, restored.value)
            self.crossing = Crossing(status, restored.value, restored.start_ms, restored.end_ms)
        self.newest_end_ms = newest_end_ms
        """End of the newest window judged; older ones cannot change the status."""

    @property
    def status(self) -> Status | None:
        """``None`` until a window has been judged (and nothing was restored)."""
        return None if self.crossing is None else self.crossing.status

    def judge(
        self, value: float | None, start_ms: int, end_ms: int, now_ms: int
    ) -> Transition | None:
        """Judge one window; return the change of status it makes, if any.

        A window older than the newest judged (such as one replayed after a restart restored
        a later status) is ignored: the status never goes back in event time. So is a
        window without a value (the standard deviation of a single reading).
        """
        if value is None or not math.isfinite(value):
            return None
        if self.newest_end_ms is not None and end_ms < self.newest_end_ms:
            return None
        self.newest_end_ms = end_ms
        previous = self.status
        status = self.limits.status(previous, value)
        if status is previous:
            return None
        self.crossing = Crossing(status, value, start_ms, end_ms)
        return Transition(self.crossing, previous, is_live(end_ms, now_ms, self.horizon_ms))


@dataclass(frozen=True, slots=True)
class Command:
    """A command of the bridge's command channel with its arguments."""

    name: str
    arguments: Mapping[str, Any]


class Cooldown:
    """At most one command per cooldown; what is still called for when it ends goes then.

    A trip while the clear command waits out the cooldown cancels it (the bridge still has
    what the trip sent), so after a burst of changes the bridge ends up with the command of
    the last status, sent at most once per cooldown.
    """

    def __init__(self, commands: Mapping[Reaction, Command | None], seconds: float) -> None:
        """Send ``commands`` (a ``None`` one sends nothing) at most every ``seconds``."""
        self.commands = commands
        self.seconds = seconds
        self._wanted: Reaction | None = None
        self._done: Reaction | None = None
        """The reaction last sent, or last called for with no command to send."""
        self._last_sent: float | None = None

    def want(self, reaction: Reaction) -> None:
        """Note that the latest change calls for ``reaction``."""
        self._wanted = reaction
        if self.commands.get(reaction) is None:
            self._done = reaction  # nothing to send; a later trip is news again

    def take(self, now: float) -> Command | None:
        """The command to send at ``now`` (then counted as sent), if one is due."""
        wanted = self._wanted
        if wanted is None or wanted is self._done or self.wait(now) != 0:
            return None
        self._done = wanted
        self._last_sent = now
        return self.commands.get(wanted)

    def wait(self, now: float) -> float | None:
        """Seconds until the pending command may go; ``None`` if none is pending."""
        if not self._pending():
            return None
        if self._last_sent is None:
            return 0
        return max(0.0, self._last_sent + self.seconds - now)

    def _pending(self) -> bool:
        return self._wanted is not None and self._wanted is not self._done
