"""End-to-end latency of a reading on loopback: from its creation on the bridge to (a) its raw
entity's state in Home Assistant's state machine and (b) the integration's window holding it.

Everything is real and on this machine, so one clock serves all: a private Mosquitto, the
bridge as a process (``python -m iot_monitor_bridge run``, ``tests/support/bridge_process.py``)
with a simulated fleet, and Home Assistant as in ``bench/ha_harness.py`` (its own loop and
bootstrap, MQTT and this integration set up through their config flows; the raw entities
come from the bridge's own discovery). The fleet's state filter is ``state: {throttle: 0}``,
so every reading of a numeric sensor that changes its value goes to its state topic at once
(the bridge publishes no repeat of the value a state topic holds, so an unchanged value is no
state in either path and is left out of (a)).

- A reading's creation time is its ``ts``: the event time the simulated fleet stamps on it
  (ms, the wall clock), the time its sample was due.
- (a): a ``state_changed`` listener notes, for each raw numeric entity of the fleet, the new
  state and the event's ``time_fired_timestamp``. Each state is matched to its reading in the
  stream: per sensor in ``seq`` order, the next reading with that value (the states are
  exactly the readings that changed the value, in order).
- (b): ``SensorTrack.add`` is wrapped; the wrapper notes ``time.time()`` right after the
  window took the reading, with its device, sensor, ``seq`` and ``ts``.

The first readings after set-up are left out (``--warmup``); then the run goes on until both
paths have at least ``--readings`` numeric readings. Goal: p99 <= 50 ms for both.

    .venv/bin/python bench/e2e_latency.py [--readings 5000] [--devices 16] [--rate-hz 4]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ha_harness import (
    LagProbe,
    async_add_bridge,
    async_set_up_mqtt,
    async_wait_for,
    home_assistant,
    run,
)

from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto

BRIDGE_ID = "e2e"
FLEET_ID = "fleet"
NUMERIC = ("temperature", "humidity", "battery")
"""The simulated fleet's numeric sensors (``drivers/simulated.py``)."""
GOAL_P99_MS = 50.0
HA_VERSION = version("homeassistant")


@dataclass(frozen=True, slots=True)
class Arrival:
    device_id: str
    sensor_id: str
    seq: int
    ts_ms: int
    value: float
    at: float
    """``time.time()`` when the window held it."""


@dataclass(frozen=True, slots=True)
class StateChange:
    device_id: str
    sensor_id: str
    state: str
    at: float
    """The ``state_changed`` event's ``time_fired_timestamp``."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(name: str, latencies: list[float]) -> tuple[str, bool]:
    values = sorted(latencies)
    p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
    met = p99 <= GOAL_P99_MS
    line = (
        f"{name:38s} n={len(values):5d}  min {values[0]:5.1f}  p50 {p50:5.1f}  "
        f"p99 {p99:5.1f}  max {values[-1]:6.1f} ms   goal p99 <= {GOAL_P99_MS:.0f} ms: "
        f"{'met' if met else 'NOT met'}"
    )
    return line, met


def match_states(changes: list[StateChange], arrivals: list[Arrival]) -> tuple[list[float], int]:
    """Latency (ms) of each state change matched to its reading; how many found none.

    Per sensor, the states are the readings whose value differed from the previous state, in
    ``seq`` order: each state is the next reading (at or after the last match) with its value.
    """
    by_sensor: dict[tuple[str, str], list[Arrival]] = defaultdict(list)
    for arrival in sorted({a.seq: a for a in arrivals}.values(), key=lambda a: a.seq):
        by_sensor[(arrival.device_id, arrival.sensor_id)].append(arrival)
    cursor: dict[tuple[str, str], int] = defaultdict(int)
    latencies: list[float] = []
    unmatched = 0
    for change in changes:
        key = (change.device_id, change.sensor_id)
        readings = by_sensor.get(key, [])
        try:
            value = float(change.state)
        except ValueError:  # unknown, unavailable
            continue
        index = cursor[key]
        while index < len(readings) and readings[index].value != value:
            index += 1
        if index == len(readings):
            unmatched += 1  # its reading came before the warm-up ended or after the end
            continue
        cursor[key] = index + 1
        latencies.append(change.at * 1000 - readings[index].ts_ms)
    return latencies, unmatched


async def measure(args: argparse.Namespace, workdir: Path, port: int) -> dict[str, Any]:
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.helpers import entity_registry as er

    async with home_assistant(workdir / "config", recorder=args.recorder) as hass:
        await async_set_up_mqtt(hass, port)
        registry = er.async_get(hass)
        wanted = {
            f"iot_monitor/{BRIDGE_ID}/{FLEET_ID}_{n}/{sensor}": (f"{FLEET_ID}_{n}", sensor)
            for n in range(1, args.devices + 1)
            for sensor in NUMERIC
        }

        def raw_entities() -> dict[str, tuple[str, str]]:
            found = {}
            for unique_id, key in wanted.items():
                entity_id = registry.async_get_entity_id("sensor", "mqtt", unique_id)
                if entity_id is not None and hass.states.get(entity_id) is not None:
                    found[entity_id] = key
            return found

        await async_wait_for(
            lambda: len(raw_entities()) == len(wanted), 120, "the fleet's raw MQTT entities"
        )
        entities = raw_entities()
        entry = await async_add_bridge(hass, BRIDGE_ID)
        coordinator = entry.runtime_data
        await async_wait_for(
            lambda: (
                sum(1 for key in coordinator.tracks if key[0].startswith(FLEET_ID)) == len(wanted)
            ),
            120,
            "the integration's windows of the fleet",
        )

        # (b): the window add, wrapped on the class the coordinator's tracks are made of.
        track_class = type(next(iter(coordinator.tracks.values())))
        original_add = track_class.add
        arrivals: list[Arrival] = []
        recording = False

        def timed_add(track: Any, ts_ms: int, seq: int, value: float) -> bool:
            accepted = original_add(track, ts_ms, seq, value)
            if recording:
                arrivals.append(
                    Arrival(track.device_id, track.sensor.id, seq, ts_ms, value, time.time())
                )
            return accepted

        track_class.add = timed_add

        # (a): state changes of the raw entities.
        changes: list[StateChange] = []

        def state_changed(event: Any) -> None:
            key = entities.get(event.data["entity_id"])
            new_state = event.data["new_state"]
            if recording and key is not None and new_state is not None:
                changes.append(StateChange(*key, new_state.state, event.time_fired_timestamp))

        unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, state_changed)
        probe = LagProbe(asyncio.get_running_loop())
        probe.start()
        await asyncio.sleep(args.warmup)
        probe.reset()
        recording = True
        started = time.monotonic()
        cpu = time.thread_time()

        def fleet_arrivals() -> int:
            return sum(1 for a in arrivals if a.device_id.startswith(FLEET_ID))

        await async_wait_for(
            lambda: fleet_arrivals() >= args.readings and len(changes) >= args.readings,
            args.timeout,
            f"{args.readings} readings in both paths",
            interval=0.5,
        )
        recording = False
        seconds = time.monotonic() - started
        loop_cpu = (time.thread_time() - cpu) / seconds
        unsubscribe()
        track_class.add = original_add
        probe.stop()
        return {
            "arrivals": [a for a in arrivals if a.device_id.startswith(FLEET_ID)],
            "changes": changes,
            "seconds": seconds,
            "loop_cpu": loop_cpu,
            "max_lag_ms": probe.max_lag * 1000,
        }


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if "model name" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=5000, help="at least, in each path")
    parser.add_argument("--devices", type=int, default=16, help="simulated devices")
    parser.add_argument("--rate-hz", type=float, default=4.0, help="samples per device and s")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds left out first")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--recorder", action="store_true", help="set up the recorder too")
    args = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="e2e-latency-") as name:
        workdir = Path(name)
        broker = Mosquitto(workdir / "mosquitto").start()
        bridge = BridgeProcess(
            workdir / "bridge",
            [broker],
            [
                {
                    "id": FLEET_ID,
                    "simulate": {
                        "count": args.devices,
                        "rate_hz": args.rate_hz,
                        "state": {"throttle": 0},
                    },
                }
            ],
            bridge={"id": BRIDGE_ID, "name": "E2E bench"},
            log_level="warning",
        )
        bridge.start()
        try:
            bridge.wait_health(lambda h: h.get("status") == "ok", 60, "the bridge on the broker")
            result = run(lambda: measure(args, workdir, broker.port))
        finally:
            bridge.close()
            broker.stop()

    state_latencies, unmatched = match_states(result["changes"], result["arrivals"])
    window_latencies = [a.at * 1000 - a.ts_ms for a in result["arrivals"]]
    numeric_per_s = args.devices * args.rate_hz * len(NUMERIC)
    print(
        f"Python {platform.python_version()}, Home Assistant {HA_VERSION}, {_cpu()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"bridge: {args.devices} simulated devices x {args.rate_hz:g} Hz, state throttle 0; "
        f"{numeric_per_s:.0f} numeric readings/s; recorded {result['seconds']:.0f} s after "
        f"{args.warmup:.0f} s warm-up" + (", recorder on" if args.recorder else ", no recorder")
    )
    print(
        f"Home Assistant's loop: CPU {result['loop_cpu']:.0%}, "
        f"max lag {result['max_lag_ms']:.1f} ms"
    )
    line_a, met_a = summary("(a) reading -> raw entity's state", state_latencies)
    line_b, met_b = summary("(b) reading -> integration's window", window_latencies)
    print(line_a)
    print(line_b)
    print(
        f"states without a matching reading (at the edges): {unmatched}; "
        f"both goals {'met' if met_a and met_b else 'NOT met'}; "
        f"run took {time.monotonic() - begun:.0f} s"
    )


if __name__ == "__main__":
    main()
