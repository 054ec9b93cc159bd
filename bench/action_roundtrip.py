"""Action round trip on loopback: ``iot_monitor.send_command`` with a response, through the
broker to the bridge and its result back in Home Assistant, against a raw MQTT round trip.

Everything is real and on this machine: a private Mosquitto, the bridge as a process
(``python -m iot_monitor_bridge run``, ``tests/support/bridge_process.py``) and Home Assistant
as in ``bench/ha_harness.py`` (its own loop and bootstrap, MQTT and this integration set up
through their config flows).

- **Action**: ``hass.services.async_call("iot_monitor", "send_command", {"command": "ping"},
  blocking=True, return_response=True)`` on Home Assistant's loop, timed from the call to the
  response: the argument check, the publish through Home Assistant's MQTT client, the bridge's
  answer on the result topic, and the response handed back.
- **Baseline**: the same ``ping`` from a plain paho client (its own connection, subscribed to
  the result topic at QoS 1 and publishing at the integration's ``COMMAND_QOS``, as Home
  Assistant does): publish, wait for the result with the same id. What the broker and the
  bridge take; the ratio is what Home Assistant and the integration add on top.

Both run in the same process and the same run, in alternating rounds (``--round`` calls of
one, then of the other), one call at a time (``--pause`` seconds apart), after ``--warmup``
calls of each that are left out. The bridge's command rate limit is raised for the run
(``commands.rate``). Goal: p99 <= 100 ms for the action.

On loopback the round trip is set by Nagle's algorithm meeting delayed ACKs (40 ms each on
Linux), not by any of the parts: neither paho (the bridge's, Home Assistant's and the
baseline's client) nor Mosquitto by default (``set_tcp_nodelay false``) turn Nagle off, so a
small packet sent while the previous one is unacknowledged waits for that ACK. Back to back,
each call finds one such packet; ``--pause 0.1`` spaces calls as automations do, so earlier
packets are acknowledged by then; ``--broker-nodelay`` runs the broker with
``set_tcp_nodelay true``.

    .venv/bin/python bench/action_roundtrip.py [--calls 2000] [--round 100] [--pause 0]
        [--broker-nodelay]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paho.mqtt.client as paho
from ha_harness import async_add_bridge, async_set_up_mqtt, home_assistant, run
from paho.mqtt.enums import CallbackAPIVersion

from iot_monitor_bridge.contract.topics import Topics
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto

BRIDGE_ID = "action-bench"
GOAL_P99_MS = 100.0
HA_VERSION = version("homeassistant")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class RawRequester:
    """A plain paho client that sends ``ping`` and waits for the result with its id."""

    def __init__(self, port: int, topics: Topics, qos: int) -> None:
        self._topics = topics
        self._qos = qos
        self._answered = threading.Event()
        self._waiting_for = ""
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="action-baseline")
        self._client.on_message = self._message
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._client.subscribe(topics.command_result, qos=1)
        if not self._subscribed.wait(10):
            raise TimeoutError("the baseline client was not subscribed")
        self._sent = 0

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        if json.loads(message.payload).get("id") == self._waiting_for:
            self._answered.set()

    def round_trip(self) -> float:
        """One ``ping``; seconds from the publish to its result."""
        self._sent += 1
        self._waiting_for = f"raw-{self._sent}"
        self._answered.clear()
        payload = json.dumps({"id": self._waiting_for, "command": "ping"})
        started = time.perf_counter()
        self._client.publish(self._topics.command, payload, qos=self._qos)
        if not self._answered.wait(10):
            raise TimeoutError("the bridge did not answer the baseline's ping")
        return time.perf_counter() - started

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


async def measure(args: argparse.Namespace, workdir: Path, port: int) -> dict[str, list[float]]:
    async with home_assistant(workdir / "config") as hass:
        await async_set_up_mqtt(hass, port)
        entry = await async_add_bridge(hass, BRIDGE_ID)
        data = {"config_entry_id": entry.entry_id, "command": "ping"}
        expected = {"pong": True, "bridge": BRIDGE_ID}

        async def action() -> float:
            started = time.perf_counter()
            response = await hass.services.async_call(
                "iot_monitor", "send_command", data, blocking=True, return_response=True
            )
            elapsed = time.perf_counter() - started
            if response != expected:
                raise AssertionError(f"unexpected response {response}")
            return elapsed

        # Loaded by Home Assistant from the configuration directory by now.
        from custom_components.iot_monitor.services import COMMAND_QOS

        raw = await hass.async_add_executor_job(
            RawRequester, port, Topics("iot_monitor", BRIDGE_ID), COMMAND_QOS
        )
        try:

            async def baseline_round(calls: int) -> list[float]:
                times = []
                for _ in range(calls):
                    times.append(await hass.async_add_executor_job(raw.round_trip))
                    await asyncio.sleep(args.pause)
                return times

            async def action_round(calls: int) -> list[float]:
                times = []
                for _ in range(calls):
                    times.append(await action())
                    await asyncio.sleep(args.pause)
                return times

            await action_round(args.warmup)
            await baseline_round(args.warmup)
            actions: list[float] = []
            baseline: list[float] = []
            while len(actions) < args.calls:
                calls = min(args.round, args.calls - len(actions))
                baseline += await baseline_round(calls)
                actions += await action_round(calls)
        finally:
            await hass.async_add_executor_job(raw.close)
        return {"action": actions, "baseline": baseline}


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if "model name" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls of each")
    parser.add_argument("--round", type=int, default=100, help="calls of one before the other")
    parser.add_argument("--warmup", type=int, default=50, help="calls of each left out first")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between calls")
    parser.add_argument(
        "--broker-nodelay", action="store_true", help="Mosquitto with set_tcp_nodelay true"
    )
    args = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="action-roundtrip-") as name:
        workdir = Path(name)
        nodelay = "set_tcp_nodelay true\n" if args.broker_nodelay else ""
        broker = Mosquitto(workdir / "mosquitto", extra_config=nodelay).start()
        bridge = BridgeProcess(
            workdir / "bridge",
            [broker],
            [],
            bridge={"id": BRIDGE_ID, "name": "Action bench"},
            commands={"rate": 1000, "burst": 1000},
            log_level="warning",
        )
        bridge.start()
        try:
            bridge.wait_health(lambda h: h.get("status") == "ok", 60, "the bridge on the broker")
            result = run(lambda: measure(args, workdir, broker.port))
        finally:
            bridge.close()
            broker.stop()

    print(
        f"Python {platform.python_version()}, Home Assistant {HA_VERSION}, {_cpu()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{args.calls} calls of each, one at a time, {args.pause:g} s apart, in alternating "
        f"rounds of {args.round}, after {args.warmup} left out; command: ping; broker "
        f"set_tcp_nodelay {'true' if args.broker_nodelay else 'false (its default)'}"
    )
    stats = {}
    for name, label in (
        ("baseline", "baseline: paho publish -> bridge -> result"),
        ("action", "iot_monitor.send_command with response"),
    ):
        values = sorted(seconds * 1000 for seconds in result[name])
        p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
        stats[name] = (p50, p99)
        print(
            f"{label:44s} n={len(values):5d}  min {values[0]:5.2f}  p50 {p50:5.2f}  "
            f"p99 {p99:6.2f}  max {values[-1]:7.2f} ms"
        )
    (p50, p99), (base_p50, base_p99) = stats["action"], stats["baseline"]
    met = p99 <= GOAL_P99_MS
    print(
        f"action / baseline: p50 x{p50 / base_p50:.2f}, p99 x{p99 / base_p99:.2f}; "
        f"goal p99 <= {GOAL_P99_MS:.0f} ms: {'met' if met else 'NOT met'}; "
        f"run took {time.monotonic() - begun:.0f} s"
    )


if __name__ == "__main__":
    main()
