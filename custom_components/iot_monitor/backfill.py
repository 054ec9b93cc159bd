"""Hourly aggregates of a bridge's readings by event time, for long-term statistics.

Home Assistant's recorder compiles each hour of a sensor from the states it recorded. The
readings of an outage reach the integration later, on the stream, and never become states:
their hours stay empty or wrong. ``HourlyHistory`` keeps, per numeric sensor and per hour of
event time, the exact aggregate of every reading (mean, min, max, the last value for sums),
says which hours the recorder has passed (so they can be imported without racing its
compile) and forgets hours once no reading can change them. Plain Python with no Home
Assistant imports, so it is tested directly; ``history.py`` connects it to the recorder.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

HOUR_MS: Final = 3_600_000
MAX_AGE_MS: Final = 168 * HOUR_MS
"""Oldest event time taken, behind the wall clock: the bridge spool's default ``max_age``
(7 days). Nothing older can be replayed by a bridge with the default bound."""
CLOSE_AFTER_MS: Final = 5 * 60_000
"""An hour is closed once the bridge's event time is this far past its end. The stream is in
``seq`` order and the spool numbers readings as they are taken, so a later reading is never
much older than one already received: this margin covers drivers that stamp a sample a
little before they hand it over."""
FUTURE_MS: Final = 5 * 60_000
"""Readings stamped further ahead of the wall clock are refused: one wrong clock would
otherwise close every hour at once."""
REPLAYED_AFTER_MS: Final = 60_000
"""A reading that arrives later than this after its event time was held back (a replay)."""
COMPILE_PERIOD_MS: Final = 55 * 60_000
"""The recorder compiles hour H with its last 5-minute period, the one starting at H:55."""
MAX_INTERVALS: Final = 256
"""Runs of seqs remembered for the duplicate check; a stream in order needs one."""


class Outcome(StrEnum):
    """What became of one reading."""

    ADDED = "added"
    DUPLICATE = "duplicate"
    CLOSED = "closed"
    """Its hour is closed and gone, or older than ``MAX_AGE_MS``."""
    FUTURE = "future"


class SeqSet:
    """The seqs seen, as sorted disjoint runs ``[low, high]``: O(1) for a stream in order.

    Bounded by ``MAX_INTERVALS`` runs: beyond that the lowest runs are dropped and every seq
    below the lowest remembered one counts as seen (its hour is closed long ago).
    """

    def __init__(self, runs: list[list[int]] | None = None) -> None:
        """Start empty, or with ``runs`` as ``to_json`` returned them."""
        self.runs: list[list[int]] = runs or []

    def add(self, seq: int) -> bool:
        """Remember ``seq``; ``False`` if it was seen before."""
        runs = self.runs
        if runs and runs[-1][1] + 1 == seq:  # the stream in order
            runs[-1][1] = seq
            return True
        if runs and seq < runs[0][0] and len(runs) >= MAX_INTERVALS:
            return False
        index = bisect.bisect_right(runs, seq, key=lambda run: run[0])
        if index and runs[index - 1][1] >= seq:
            return False
        joins_left = index > 0 and runs[index - 1][1] + 1 == seq
        joins_right = index < len(runs) and runs[index][0] - 1 == seq
        if joins_left and joins_right:
            runs[index - 1][1] = runs.pop(index)[1]
        elif joins_left:
            runs[index - 1][1] = seq
        elif joins_right:
            runs[index][0] = seq
        else:
            runs.insert(index, [seq, seq])
            if len(runs) > MAX_INTERVALS:
                del runs[0]
        return True


@dataclass(slots=True)
class HourAggregate:
    """Every reading of one sensor in one hour: exact mean, min, max and last value.

    The sum is kept as an integer in units of ``2**-shift`` (every float is one), so the mean
    is correctly rounded however many readings arrive and in whatever order.
    """

    count: int = 0
    total: int = 0
    shift: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    first: tuple[int, int, float] = (0, 0, 0.0)
    """``(ts_ms, seq, value)`` of the earliest reading by event time, then seq."""
    last: tuple[int, int, float] = (0, 0, 0.0)
    """``(ts_ms, seq, value)`` of the newest reading by event time, then seq."""
    replayed: int = 0
    """Readings that arrived more than ``REPLAYED_AFTER_MS`` after their event time."""
    reported: int = 0
    """Of those, the ones already counted as back-filled by an earlier import of the hour."""

    def add(self, ts_ms: int, seq: int, value: float, *, replayed: bool) -> None:
        """Add one finite reading."""
        numerator, denominator = value.as_integer_ratio()
        shift = denominator.bit_length() - 1
        if shift > self.shift:
            self.total <<= shift - self.shift
            self.shift = shift
        self.total += numerator << (self.shift - shift)
        reading = (ts_ms, seq, value)
        if self.count == 0 or reading[:2] < self.first[:2]:
            self.first = reading
        if self.count == 0 or reading[:2] > self.last[:2]:
            self.last = reading
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.replayed += replayed

    @property
    def mean(self) -> float:
        """The correctly rounded mean (integer true division rounds once)."""
        return self.total / (self.count << self.shift)

    def to_json(self) -> list[Any]:
        """A JSON-safe row; the exact sum as a hex string (JSON writers cap integers)."""
        return [
            self.count,
            hex(self.total),
            self.shift,
            self.min,
            self.max,
            list(self.first),
            list(self.last),
            self.replayed,
            self.reported,
        ]

    @classmethod
    def from_json(cls, row: list[Any]) -> HourAggregate:
        """Read a row ``to_json`` made."""
        count, total, shift, low, high, first, last, replayed, reported = row
        return cls(
            count=int(count),
            total=int(total, 16),
            shift=int(shift),
            min=float(low),
            max=float(high),
            first=(int(first[0]), int(first[1]), float(first[2])),
            last=(int(last[0]), int(last[1]), float(last[2])),
            replayed=int(replayed),
            reported=int(reported),
        )


@dataclass(frozen=True, slots=True)
class HourSum:
    """One hour of a ``total``/``total_increasing`` sensor as the recorder stores it."""

    state: float
    sum: float


def chain_sums(
    previous: HourSum | None, first: float, lasts: list[float], *, increasing: bool
) -> list[HourSum]:
    """Continue the sum over consecutive hours whose last readings are ``lasts``.

    Growth is the change of the last value from hour to hour, as the recorder counts it
    between states: for ``total_increasing`` a drop below 90 % of the previous value is a
    meter reset, after which the new value is all growth. Without the hour before, the sum
    starts at ``first``, the first reading of the first hour.
    """
    state, total = (first, 0.0) if previous is None else (previous.state, previous.sum)
    result: list[HourSum] = []
    for value in lasts:
        if increasing and value < 0.9 * state:
            total += value
        else:
            total += value - state
        state = value
        result.append(HourSum(state=state, sum=total))
    return result


type HourKey = tuple[str, int]
"""``(sensor key, hour start in epoch ms)``."""


class HourlyHistory:
    """One bridge's hourly aggregates, which hours need importing, and the counts to report."""

    def __init__(self) -> None:
        """Start empty; ``load`` restores what ``to_json`` saved."""
        self.hours: dict[HourKey, HourAggregate] = {}
        self.dirty: set[HourKey] = set()
        """Hours with readings the recorder has not been given yet."""
        self.newest_ms: int | None = None
        """The newest event time taken from the bridge."""
        self.seqs = SeqSet()
        self.duplicates = 0
        self.closed = 0
        self.future = 0
        self.replayed = 0
        """Readings taken that arrived more than ``REPLAYED_AFTER_MS`` late."""
        self.hours_imported = 0
        self.hours_backfilled = 0
        """Hours imported with replayed readings in them (each hour once)."""
        self.readings_backfilled = 0
        """Replayed readings imported (each reading once)."""

    def is_closed(self, hour_ms: int) -> bool:
        """Whether no reading of the hour starting at ``hour_ms`` can still arrive."""
        newest = self.newest_ms
        return newest is not None and newest >= hour_ms + HOUR_MS + CLOSE_AFTER_MS

    def seen(self, seq: int) -> bool:
        """Note a reading kept nowhere (not numeric, no statistics); ``False``: a duplicate."""
        fresh = self.seqs.add(seq)
        self.duplicates += not fresh
        return fresh

    def add(self, key: str, ts_ms: int, seq: int, value: float, now_ms: int) -> Outcome:
        """Add one finite reading of sensor ``key`` that arrived at ``now_ms``."""
        if not self.seen(seq):
            return Outcome.DUPLICATE
        if ts_ms > now_ms + FUTURE_MS:
            self.future += 1
            return Outcome.FUTURE
        hour_ms = ts_ms - ts_ms % HOUR_MS
        hour_key = (key, hour_ms)
        aggregate = self.hours.get(hour_key)
        if aggregate is None:
            if self.is_closed(hour_ms) or ts_ms < now_ms - MAX_AGE_MS:
                self.closed += 1
                return Outcome.CLOSED
            aggregate = self.hours[hour_key] = HourAggregate()
        replayed = now_ms - ts_ms > REPLAYED_AFTER_MS
        aggregate.add(ts_ms, seq, value, replayed=replayed)
        self.replayed += replayed
        self.dirty.add(hour_key)
        if self.newest_ms is None or ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
        return Outcome.ADDED

    def importable(self, newest_run_ms: int | None) -> list[HourKey]:
        """Hours with news that the recorder has passed, by sensor then hour.

        ``newest_run_ms`` is the start of the recorder's newest statistics run. Runs are
        made in order, so an hour whose H:55 period is not newer has been compiled or will
        never be (it is older than the recorder's first run): importing it cannot collide
        with the compile's insert.
        """
        if newest_run_ms is None:
            return []
        return sorted(
            hour_key for hour_key in self.dirty if hour_key[1] + COMPILE_PERIOD_MS <= newest_run_ms
        )

    def imported(self, hour_keys: list[HourKey]) -> None:
        """Note that ``hour_keys`` were given to the recorder; drop those that are closed."""
        for hour_key in hour_keys:
            self.dirty.discard(hour_key)
            aggregate = self.hours[hour_key]
            self.hours_imported += 1
            if aggregate.replayed > aggregate.reported:
                self.hours_backfilled += not aggregate.reported
                self.readings_backfilled += aggregate.replayed - aggregate.reported
                aggregate.reported = aggregate.replayed
            if self.is_closed(hour_key[1]):
                del self.hours[hour_key]

    def skip(self, hour_keys: list[HourKey]) -> None:
        """Note that ``hour_keys`` cannot be imported; drop those that are closed."""
        for hour_key in hour_keys:
            self.dirty.discard(hour_key)
            if self.is_closed(hour_key[1]):
                del self.hours[hour_key]

    def prune(self, now_ms: int) -> int:
        """Drop hours older than ``MAX_AGE_MS``, imported or not; return how many."""
        oldest = now_ms - MAX_AGE_MS - HOUR_MS
        stale = [hour_key for hour_key in self.hours if hour_key[1] < oldest]
        for hour_key in stale:
            del self.hours[hour_key]
            self.dirty.discard(hour_key)
        return len(stale)

    def forget(self, key: str) -> None:
        """Drop a sensor the bridge no longer has."""
        for hour_key in [hour_key for hour_key in self.hours if hour_key[0] == key]:
            del self.hours[hour_key]
            self.dirty.discard(hour_key)

    def to_json(self) -> dict[str, Any]:
        """What survives a restart: the hours held, which need importing, and the seqs."""
        return {
            "newest_ms": self.newest_ms,
            "seqs": self.seqs.runs,
            "hours": [
                [*hour_key, hour_key in self.dirty, aggregate.to_json()]
                for hour_key, aggregate in self.hours.items()
            ],
            "counts": [
                self.replayed,
                self.hours_imported,
                self.hours_backfilled,
                self.readings_backfilled,
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HourlyHistory:
        """Read what ``to_json`` saved."""
        history = cls()
        history.newest_ms = data["newest_ms"]
        history.seqs = SeqSet([[int(low), int(high)] for low, high in data["seqs"]])
        for key, hour_ms, dirty, row in data["hours"]:
            hour_key = (str(key), int(hour_ms))
            history.hours[hour_key] = HourAggregate.from_json(row)
            if dirty:
                history.dirty.add(hour_key)
        (
            history.replayed,
            history.hours_imported,
            history.hours_backfilled,
            history.readings_backfilled,
        ) = (int(count) for count in data["counts"])
        return history

    def diagnostics(self) -> dict[str, int]:
        """The counts the diagnostics download shows."""
        return {
            "hours_backfilled": self.hours_backfilled,
            "readings_backfilled": self.readings_backfilled,
            "hours_imported": self.hours_imported,
            "hours_held": len(self.hours),
            "hours_waiting": len(self.dirty),
            "replayed": self.replayed,
            "duplicates": self.duplicates,
            "closed": self.closed,
            "future": self.future,
        }
