"""Event-time statistics of one sensor: tumbling and sliding windows behind a watermark.

Pure: no Home Assistant imports, no I/O. Readings are placed by their event time, so replays
after an outage and readings that overtook each other on the way land in the right window.
Semantics, algorithms and their costs are documented in docs/statistics.md.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

_MS_PER_MINUTE: Final = 60_000.0
_REBUILD_SLACK: Final = 64
"""Dead heap entries tolerated beyond the live ones before a heap is rebuilt."""

type _Item = tuple[int, int, float]
"""One accepted reading: (event time in ms, arrival number, value).

The arrival number is unique within a window, so items order by event time, then by arrival,
and never compare their values.
"""


class WindowKind(StrEnum):
    """How the window moves over event time."""

    TUMBLING = "tumbling"
    SLIDING = "sliding"


class Outcome(StrEnum):
    """What ``SensorWindow.add`` did with a reading."""

    ACCEPTED = "accepted"
    LATE = "late"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Statistics of one window, as an entity shows them.

    Tumbling windows cover ``[start_ms, end_ms)``; the sliding window covers ``(start_ms, end_ms]``.
    """

    start_ms: int
    end_ms: int
    count: int
    mean: float
    min: float
    max: float
    stdev: float | None
    """Sample standard deviation; ``None`` with fewer than two readings."""
    rate_of_change: float | None
    """(last - first) per minute of event time; ``None`` without two distinct event times."""


def _sqrt_ratio(numerator: int, denominator: int) -> float:
    """``sqrt(numerator / denominator)`` correctly rounded, for any non-negative integers.

    Going through a float quotient would underflow or overflow for variances beyond float range
    whose square roots are fine. Scaling by 4**k leaves at least 64 bits in the integer root;
    a sticky bit for a non-zero remainder then makes the one rounding of the division exact.
    """
    shift = max(0, (denominator.bit_length() - numerator.bit_length() + 130) // 2)
    quotient, remainder = divmod(numerator << (2 * shift), denominator)
    root = math.isqrt(quotient)
    inexact = 1 if remainder or root * root != quotient else 0
    try:
        return ((root << 1) | inexact) / (1 << (shift + 1))
    except OverflowError:
        return math.inf


class _Moments:
    """Count, sum and sum of squares, kept exactly as integers in units of 2**-scale.

    Every float is a multiple of a power of two, so the sums are exact: removing a reading
    undoes adding it bit for bit, nothing drifts however long a window slides, and mean and
    variance are rounded once, when asked for.
    """

    __slots__ = ("_scale", "_sum", "_sum_sq", "count")

    def __init__(self) -> None:
        self.count = 0
        self._scale = 0
        self._sum = 0
        self._sum_sq = 0

    def _scaled(self, value: float) -> int:
        numerator, denominator = value.as_integer_ratio()
        shift = denominator.bit_length() - 1
        if shift > self._scale:
            grow = shift - self._scale
            self._sum <<= grow
            self._sum_sq <<= 2 * grow
            self._scale = shift
        return numerator << (self._scale - shift)

    def add(self, value: float) -> None:
        scaled = self._scaled(value)
        self.count += 1
        self._sum += scaled
        self._sum_sq += scaled * scaled

    def remove(self, value: float) -> None:
        scaled = self._scaled(value)
        self.count -= 1
        self._sum -= scaled
        self._sum_sq -= scaled * scaled

    def mean(self) -> float:
        """Correctly rounded: integer true division rounds once."""
        return self._sum / (self.count << self._scale)

    def stdev(self) -> float | None:
        count = self.count
        if count < 2:
            return None
        spread = count * self._sum_sq - self._sum * self._sum  # exact, never negative
        return _sqrt_ratio(spread, (count * (count - 1)) << (2 * self._scale))


def _summary(
    *,
    start_ms: int,
    end_ms: int,
    moments: _Moments,
    low: float,
    high: float,
    first: _Item,
    last: _Item,
) -> WindowResult:
    span_ms = last[0] - first[0]
    return WindowResult(
        start_ms=start_ms,
        end_ms=end_ms,
        count=moments.count,
        mean=moments.mean(),
        min=low,
        max=high,
        stdev=moments.stdev(),
        rate_of_change=(last[2] - first[2]) / (span_ms / _MS_PER_MINUTE) if span_ms else None,
    )


class DuplicateFilter:
    """The seqs of readings still inside the lateness horizon.

    A reading older than the watermark is rejected as late before its seq is looked up, so a seq
    can be forgotten once its event time falls behind the watermark. Seqs leave in arrival order,
    so one that arrived late may stay until those before it go; memory stays bounded by the
    readings of about two lateness horizons.
    """

    __slots__ = ("_by_arrival", "_seen")

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._by_arrival: deque[tuple[int, int]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, seq: int, ts_ms: int) -> bool:
        """Remember ``seq``; ``False`` if it was already remembered."""
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self._by_arrival.append((ts_ms, seq))
        return True

    def forget_before(self, watermark_ms: int) -> None:
        """Drop the seqs whose readings the watermark has passed."""
        by_arrival = self._by_arrival
        while by_arrival and by_arrival[0][0] < watermark_ms:
            self._seen.discard(by_arrival.popleft()[1])


class _TumblingWindow:
    """Incremental aggregate of one tumbling window: O(1) per reading."""

    __slots__ = ("first", "high", "last", "low", "moments", "start_ms")

    def __init__(self, start_ms: int, item: _Item) -> None:
        self.start_ms = start_ms
        self.moments = _Moments()
        self.moments.add(item[2])
        self.low = self.high = item[2]
        self.first = self.last = item

    def add(self, item: _Item) -> None:
        ts_ms, _, value = item
        self.moments.add(value)
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if ts_ms < self.first[0]:
            self.first = item
        if ts_ms >= self.last[0]:
            self.last = item

    def result(self, length_ms: int) -> WindowResult:
        return _summary(
            start_ms=self.start_ms,
            end_ms=self.start_ms + length_ms,
            moments=self.moments,
            low=self.low,
            high=self.high,
            first=self.first,
            last=self.last,
        )


class _Tumbling:
    """Epoch-aligned windows ``[k*L, (k+1)*L)``, kept open until the watermark passes their end."""

    __slots__ = ("_length_ms", "_newest", "_open", "_open_indices", "_shown")

    def __init__(self, length_ms: int) -> None:
        self._length_ms = length_ms
        self._open: dict[int, _TumblingWindow] = {}
        self._open_indices: list[int] = []  # heap of the keys of _open
        self._shown: _TumblingWindow | None = None
        """The most recent window complete in event time; it may already be closed."""
        self._newest: _TumblingWindow | None = None
        """The window of the newest event time seen, the only one with data not yet complete."""

    def _show(self, window: _TumblingWindow) -> None:
        if self._shown is None or window.start_ms > self._shown.start_ms:
            self._shown = window

    def insert(self, item: _Item, max_ts_ms: int) -> None:
        index = item[0] // self._length_ms
        window = self._open.get(index)
        if window is None:
            window = self._open[index] = _TumblingWindow(index * self._length_ms, item)
            heapq.heappush(self._open_indices, index)
        else:
            window.add(item)
        if (index + 1) * self._length_ms <= max_ts_ms:  # a late reading for a complete window
            self._show(window)

    def advance(self, max_ts_ms: int, watermark_ms: int) -> None:
        newest = self._newest
        if newest is not None and newest.start_ms + self._length_ms <= max_ts_ms:
            self._show(newest)
        self._newest = self._open[max_ts_ms // self._length_ms]
        closed_below = watermark_ms // self._length_ms  # these end at or before the watermark
        while self._open_indices and self._open_indices[0] < closed_below:
            del self._open[heapq.heappop(self._open_indices)]

    def result(self) -> WindowResult | None:
        return None if self._shown is None else self._shown.result(self._length_ms)


class _SortedRun:
    """Readings in event-time order, appended at the back and taken from the front.

    Monotonic deques of the candidates for min and max make both O(1) amortized.
    """

    __slots__ = ("_highs", "_lows", "items")

    def __init__(self) -> None:
        self.items: deque[_Item] = deque()
        self._lows: deque[_Item] = deque()
        self._highs: deque[_Item] = deque()

    def push(self, item: _Item) -> None:
        self.items.append(item)
        value = item[2]
        lows, highs = self._lows, self._highs
        while lows and lows[-1][2] >= value:
            lows.pop()
        lows.append(item)
        while highs and highs[-1][2] <= value:
            highs.pop()
        highs.append(item)

    def pop_front(self) -> _Item:
        item = self.items.popleft()
        if self._lows[0] is item:
            self._lows.popleft()
        if self._highs[0] is item:
            self._highs.popleft()
        return item

    def low(self) -> float:
        return self._lows[0][2]

    def high(self) -> float:
        return self._highs[0][2]


def _live_top(heap: list[tuple[float, int, int]], oldest: _Item) -> float:
    """Top of a lazily pruned value heap: entries older than ``oldest`` have left the buffer."""
    key = oldest[:2]
    while heap[0][1:] < key:
        heapq.heappop(heap)
    return heap[0][0]


class _OutOfOrderBuffer:
    """Readings that arrived after a later one, until the watermark or the window passes them.

    A heap by event time gives them back oldest first; two value heaps answer min and max.
    Readings only ever leave oldest first and later arrivals are always newer than any that
    left, so an entry of a value heap is live exactly when it is not older than the oldest
    reading still here: the value heaps are pruned lazily and rebuilt when mostly dead.
    """

    __slots__ = ("_highs", "_lows", "items")

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self._lows: list[tuple[float, int, int]] = []
        self._highs: list[tuple[float, int, int]] = []

    def push(self, item: _Item) -> None:
        ts_ms, arrival, value = item
        heapq.heappush(self.items, item)
        heapq.heappush(self._lows, (value, ts_ms, arrival))
        heapq.heappush(self._highs, (-value, ts_ms, arrival))

    def pop_oldest(self) -> _Item:
        item = heapq.heappop(self.items)
        if not self.items:
            self._lows.clear()
            self._highs.clear()
        elif len(self._lows) + len(self._highs) > 4 * len(self.items) + _REBUILD_SLACK:
            self._lows = [(value, ts_ms, arrival) for ts_ms, arrival, value in self.items]
            self._highs = [(-value, ts_ms, arrival) for ts_ms, arrival, value in self.items]
            heapq.heapify(self._lows)
            heapq.heapify(self._highs)
        return item

    def low(self) -> float:
        return _live_top(self._lows, self.items[0])

    def high(self) -> float:
        return -_live_top(self._highs, self.items[0])


class _Sliding:
    """The window ``(max - L, max]`` over the readings accepted so far.

    In-order readings go to ``_recent``; readings that arrived after a later one wait in
    ``_out_of_order`` until the watermark passes them, then move, merged in event-time order
    with the in-order readings before them, to ``_settled``. Every reading stored is inside the
    window; mean and variance come from exact sums that support removal.
    """

    __slots__ = ("_length_ms", "_moments", "_out_of_order", "_recent", "_settled")

    def __init__(self, length_ms: int) -> None:
        self._length_ms = length_ms
        self._moments = _Moments()
        self._settled = _SortedRun()
        self._recent = _SortedRun()
        self._out_of_order = _OutOfOrderBuffer()

    def insert(self, item: _Item, max_ts_ms: int) -> None:
        if item[0] <= max_ts_ms - self._length_ms:
            return  # within the lateness, but the window has already slid past it
        self._moments.add(item[2])
        recent = self._recent.items
        if not recent or item[0] >= recent[-1][0]:
            self._recent.push(item)
        else:
            self._out_of_order.push(item)

    def advance(self, max_ts_ms: int, watermark_ms: int) -> None:
        cut_ms = max_ts_ms - self._length_ms
        moments = self._moments
        for run in (self._settled, self._recent):
            while run.items and run.items[0][0] <= cut_ms:
                moments.remove(run.pop_front()[2])
        waiting = self._out_of_order
        while waiting.items and waiting.items[0][0] <= cut_ms:
            moments.remove(waiting.pop_oldest()[2])
        # Nothing can arrive before the watermark any more: merge what it passed into the
        # settled run, so the out-of-order buffer only spans the lateness horizon.
        while waiting.items and waiting.items[0][0] < watermark_ms:
            head = waiting.items[0]
            while self._recent.items[0] < head:  # the maximum's reading stays in _recent
                self._settled.push(self._recent.pop_front())
            self._settled.push(waiting.pop_oldest())

    def result(self) -> WindowResult | None:
        recent = self._recent
        if not recent.items:
            return None
        low, high, first = recent.low(), recent.high(), recent.items[0]
        if self._out_of_order.items:
            low = min(low, self._out_of_order.low())
            high = max(high, self._out_of_order.high())
            first = min(first, self._out_of_order.items[0])
        if self._settled.items:
            low = min(low, self._settled.low())
            high = max(high, self._settled.high())
            first = self._settled.items[0]
        last = recent.items[-1]
        return _summary(
            start_ms=last[0] - self._length_ms,
            end_ms=last[0],
            moments=self._moments,
            low=low,
            high=high,
            first=first,
            last=last,
        )


def _milliseconds(seconds: float, name: str, minimum: int) -> int:
    if not math.isfinite(seconds) or round(seconds * 1000) < minimum:
        raise ValueError(f"{name} must be at least {minimum} ms, got {seconds!r} s")
    return round(seconds * 1000)


class SensorWindow:
    """Statistics of one numeric sensor over an event-time window behind a watermark.

    The watermark trails the newest event time seen by the allowed lateness; readings older
    than it are counted as late and dropped, readings whose seq was already seen are counted as
    duplicates, non-finite values as invalid. See docs/statistics.md.
    """

    __slots__ = (
        "_engine",
        "_max_ts_ms",
        "_seqs",
        "accepted",
        "duplicates",
        "invalid",
        "late",
        "lateness_ms",
    )

    def __init__(self, kind: WindowKind, length_s: float, lateness_s: float) -> None:
        length_ms = _milliseconds(length_s, "window length", 1)
        self.lateness_ms = _milliseconds(lateness_s, "lateness", 0)
        self.accepted = 0
        """Also each reading's arrival number, which orders readings with equal event times."""
        self.late = 0
        self.duplicates = 0
        self.invalid = 0
        self._max_ts_ms: int | None = None
        self._seqs = DuplicateFilter()
        self._engine: _Tumbling | _Sliding = (
            _Tumbling(length_ms) if WindowKind(kind) is WindowKind.TUMBLING else _Sliding(length_ms)
        )

    @property
    def watermark_ms(self) -> int | None:
        """Newest event time seen minus the lateness; ``None`` before the first reading."""
        return None if self._max_ts_ms is None else self._max_ts_ms - self.lateness_ms

    def add(self, ts_ms: int, seq: int, value: float) -> Outcome:
        """Place one reading by its event time; O(1) amortized for in-order readings."""
        if not math.isfinite(value):
            self.invalid += 1
            return Outcome.INVALID
        previous_max = self._max_ts_ms
        if previous_max is not None and ts_ms < previous_max - self.lateness_ms:
            self.late += 1
            return Outcome.LATE
        if not self._seqs.add(seq, ts_ms):
            self.duplicates += 1
            return Outcome.DUPLICATE
        item = (ts_ms, self.accepted, value)
        self.accepted += 1
        if previous_max is not None and ts_ms <= previous_max:
            self._engine.insert(item, previous_max)
            return Outcome.ACCEPTED
        self._max_ts_ms = ts_ms
        watermark = ts_ms - self.lateness_ms
        self._engine.insert(item, ts_ms)
        self._engine.advance(ts_ms, watermark)
        self._seqs.forget_before(watermark)
        return Outcome.ACCEPTED

    def result(self) -> WindowResult | None:
        """Tumbling: the newest window complete in event time. Sliding: the current window.

        Computed on each call: the integration asks once per (throttled) state write.
        """
        return self._engine.result()
