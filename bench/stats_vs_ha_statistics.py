"""Per-reading cost of the statistics engine against Home Assistant's own ``statistics`` sensor.

One stream of 4 Hz temperature readings goes through both, in one run:
- Home Assistant: four ``StatisticsSensor`` entities (mean, standard_deviation, value_min,
  value_max; sampling_size N), each driven through its per-sample path exactly as its state
  listener does it (``_add_state_to_queue`` then ``_async_purge_update_and_schedule``), minus
  the state write, which both sides leave to the state machine;
- ours: one sliding ``SensorWindow`` whose length holds N readings, ``add`` then ``result``.

Both buffers are filled with N readings first; then a bounded number of readings is timed
(Home Assistant's path is O(N) per reading), in ten chunks of which the fastest counts, since
other processes on the machine can only add time. Also timed: ours on the same readings with
one in ten overtaken by up to 5 s, which exercises the out-of-order path.

Run: .venv/bin/python bench/stats_vs_ha_statistics.py
"""

from __future__ import annotations

import gc
import itertools
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant.components.statistics.sensor import StatisticsSensor
from homeassistant.core import State

from custom_components.iot_monitor.statistics import SensorWindow, WindowKind, WindowResult

INTERVAL_MS = 250  # 4 Hz, as the simulated fleet
LATENESS_S = 60.0
SIZES = (100, 10_000, 100_000)
HA_TIMED = {100: 5_000, 10_000: 200, 100_000: 30}
"""Readings timed through Home Assistant's sensor after its buffer is full."""
OURS_TIMED = 50_000
CHUNKS = 10
PRECISION = 4
ENTITY_ID = "sensor.bench_temperature"
ATTRIBUTES = {
    "unit_of_measurement": "°C",
    "device_class": "temperature",
    "state_class": "measurement",
}
CHARACTERISTICS = ("mean", "standard_deviation", "value_min", "value_max")

type Reading = tuple[int, int, float]  # ts_ms, seq, value


def temperatures(count: int) -> list[float]:
    """A temperature sensor's readings: a slow wave plus noise, two decimals."""
    rng = random.Random(42)
    return [round(21.0 + 3.0 * math.sin(i / 2_000) + rng.gauss(0.0, 0.2), 2) for i in range(count)]


def overtaken(readings: Sequence[Reading], seed: int) -> list[Reading]:
    """The same readings in an arrival order where one in ten is up to 5 s late."""
    rng = random.Random(seed)
    delays = [rng.uniform(0, 5_000) if rng.random() < 0.1 else 0.0 for _ in readings]
    order = sorted(range(len(readings)), key=lambda i: readings[i][0] + delays[i])
    return [readings[i] for i in order]


def fastest_chunk(feed: Callable[[int, int], None], start: int, stop: int) -> float:
    """µs per reading of the fastest of ten chunks of ``feed(start, stop)``.

    The cyclic garbage collector is paused while timing, as timeit does.
    """
    bounds = [start + (stop - start) * chunk // CHUNKS for chunk in range(CHUNKS + 1)]
    best = math.inf
    for low, high in itertools.pairwise(bounds):
        gc.collect()
        gc.disable()
        try:
            began = time.perf_counter_ns()
            feed(low, high)
            best = min(best, (time.perf_counter_ns() - began) / 1000 / (high - low))
        finally:
            gc.enable()
    return best


def home_assistant(size: int, values: Sequence[float]) -> tuple[float, dict[str, float]]:
    """µs per reading through four statistics sensors, and their last values."""
    sensors = [
        StatisticsSensor(
            source_entity_id=ENTITY_ID,
            name=f"bench {characteristic}",
            unique_id=None,
            state_characteristic=characteristic,
            samples_max_buffer_size=size,
            samples_max_age=None,
            samples_keep_last=False,
            precision=PRECISION,
            percentile=50,
        )
        for characteristic in CHARACTERISTICS
    ]
    states = [State(ENTITY_ID, str(value), ATTRIBUTES) for value in values]
    for index in range(size):  # fill the buffers; updating here would only cost more time
        for sensor in sensors:
            sensor._add_state_to_queue(states[index], index * INTERVAL_MS / 1000)

    def feed(start: int, stop: int) -> None:
        for index in range(start, stop):
            for sensor in sensors:
                sensor._add_state_to_queue(states[index], index * INTERVAL_MS / 1000)
                sensor._async_purge_update_and_schedule()

    cost = fastest_chunk(feed, size, len(states))
    last = {}
    for characteristic, sensor in zip(CHARACTERISTICS, sensors, strict=True):
        value = sensor.native_value
        assert isinstance(value, float | int)
        last[characteristic] = float(value)
    return cost, last


def ours(size: int, readings: Sequence[Reading]) -> tuple[float, WindowResult]:
    """µs per reading through one sliding window holding ``size`` readings, and its result."""
    window = SensorWindow(WindowKind.SLIDING, size * INTERVAL_MS / 1000, LATENESS_S)
    for ts_ms, seq, value in readings[:size]:
        window.add(ts_ms, seq, value)
    add, result = window.add, window.result

    def feed(start: int, stop: int) -> None:
        for ts_ms, seq, value in readings[start:stop]:
            add(ts_ms, seq, value)
            result()

    cost = fastest_chunk(feed, size, len(readings))
    final = window.result()
    assert final is not None
    return cost, final


def check_same_statistics(ha: dict[str, float], result: WindowResult) -> None:
    """Both saw the same window: their values agree to Home Assistant's display precision."""
    assert result.stdev is not None
    mine = {
        "mean": result.mean,
        "standard_deviation": result.stdev,
        "value_min": result.min,
        "value_max": result.max,
    }
    for characteristic, value in ha.items():
        assert round(mine[characteristic], PRECISION) == value, (characteristic, mine, ha)


def main() -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(f"Python {platform.python_version()}, Home Assistant {version('homeassistant')}, {cpu}")
    print(f"4 Hz readings, sliding window of N readings, lateness {LATENESS_S:.0f} s\n")
    columns = ("N", "HA statistics µs", "ours µs", "HA/ours", "ours, 10% overtaken µs")
    widths = [max(8, len(column)) for column in columns]
    header = " ".join(f"{column:>{width}}" for column, width in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    costs = {}
    for size in SIZES:
        values = temperatures(size + max(HA_TIMED[size], OURS_TIMED))
        readings = [(i * INTERVAL_MS, i, value) for i, value in enumerate(values)]
        ha_cost, ha_last = home_assistant(size, values[: size + HA_TIMED[size]])
        _, same_window = ours(size, readings[: size + HA_TIMED[size]])
        check_same_statistics(ha_last, same_window)
        our_cost, _ = ours(size, readings)
        disordered_cost, _ = ours(size, readings[:size] + overtaken(readings[size:], size))
        costs[size] = our_cost
        cells = (
            f"{size}",
            f"{ha_cost:.1f}",
            f"{our_cost:.2f}",
            f"{ha_cost / our_cost:.0f}x",
            f"{disordered_cost:.2f}",
        )
        print(" ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
    flatness = costs[SIZES[-1]] / costs[SIZES[0]]
    print(f"\nours at N = {SIZES[-1]} / ours at N = {SIZES[0]}: {flatness:.2f}")


if __name__ == "__main__":
    main()
