"""Bridge publish throughput against raw paho-mqtt loops, and the bridge's peak memory.

One private Mosquitto serves every part of the run:

1. raw paho, the bridge's messages: a plain paho-mqtt client publishes the stream messages
   the bridge sends for N readings (``CHUNK`` readings per message, as the publisher batches
   the readings of one loop turn) at QoS 1 and waits for every PUBACK, once with paho's
   defaults (20 in flight) and once without an in-flight limit; the faster of the two is the
   baseline the bridge is held to;
2. raw paho, a message per reading: the same N readings, each in a message of its own (as
   contract v1 sent them, one per state topic message), same two settings: what the stream's
   batching has to beat;
3. bridge: the same N readings through the bridge's full path in this process (Reading ->
   spool append -> state filter -> stream batch -> publish -> PUBACK -> spool ack of the
   batch, commits with the default settings);
4. memory: the real bridge (``python -m iot_monitor_bridge run``) with the 8 x 4 Hz fleet,
   the health sensors and the HTTP endpoint (``/health`` and ``/metrics`` fetched every
   second, as a scraper would) for a while; its peak RSS (``VmHWM``). Once with zeroconf
   off and once with it on (the default on a Pi: it announces over mDNS on this machine's
   interfaces; ``--skip-zeroconf`` leaves that run out).

Everything is counted in readings per second. Goals: bridge / raw paho with a message per
reading > 1 (batching beats it); peak RSS <= 40 MB. Bridge / raw paho with the bridge's
messages is reported as well: with 50 readings a message the raw loop does almost nothing
per reading, while the bridge still stores, filters and acknowledges each one, so the
0.7 held to when every reading was a message of its own does not carry over. Results go to
docs/performance.md.

    .venv-bridge311/bin/python bench/bridge_throughput.py [--messages 20000] [--rounds 5]

Rounds interleave the runs and the medians are compared, so a busy machine skews them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import (  # noqa: E402
    CHUNK,
    TOPICS,
    bridge_config,
    bridge_pipeline,
    emit_readings,
    numbered,
    proc_counter,
    stream_messages,
    wire_message,
)

from iot_monitor_bridge.config import HealthConfig  # noqa: E402
from iot_monitor_bridge.drivers.base import now_ms  # noqa: E402
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT  # noqa: E402
from iot_monitor_bridge.runtime.publisher import STREAM_BATCH  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402

SCRAPE_INTERVAL_S = 1.0
"""How often the memory run fetches /health and /metrics (a Prometheus agent: 15 s)."""


def raw_paho(port: int, messages: list[tuple[str, bytes]], max_inflight: int) -> float:
    """Seconds a raw paho QoS 1 loop takes for ``messages``, first publish to last PUBACK.

    ``max_inflight`` 20 is paho's default; 0 lets paho send everything at once.
    """
    count = len(messages)
    done = threading.Event()
    connected = threading.Event()
    acked = 0

    def on_publish(*_: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline")
    client.max_inflight_messages_set(max_inflight)
    client.on_publish = on_publish
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(10)
    started = time.perf_counter()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1)
    if not done.wait(300):
        raise RuntimeError(f"raw paho: only {acked} of {count} acknowledged")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def raw_messages(count: int, per_message: int) -> list[tuple[str, bytes]]:
    """The stream messages for ``count`` readings, ``per_message`` readings each, encoded
    before the clock starts."""
    ts = now_ms()
    readings = [numbered(n, ts + n) for n in range(count)]
    if per_message == 1:
        return [wire_message(r) for r in readings]
    return stream_messages(readings, per_message)


async def bridge_path(port: int, count: int, workdir: Path) -> tuple[float, int]:
    """Readings/s through spool, state filter, stream batch, publish, PUBACK and spool ack;
    and how many stream messages carried them."""
    spool, link, publisher = bridge_pipeline(port, workdir / "spool.db")
    stream_messages_sent = 0
    publish = link.publish

    def counting(topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> Any:
        nonlocal stream_messages_sent
        if topic == TOPICS.stream:
            stream_messages_sent += 1
        return publish(topic, payload, qos, retain)

    link.publish = counting  # type: ignore[method-assign]
    link.start()
    await link.wait_connected()
    await publisher.wait_idle(10)  # discovery and description are out of the way
    started = time.perf_counter()
    await emit_readings(publisher, count, now_ms())
    while publisher.published_total < count:
        await publisher.wait_idle(60)
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    if spool.depth:
        raise RuntimeError(f"bridge: {spool.depth} readings left in the spool")
    await link.close()
    await publisher.stop()
    spool.close()
    return count / elapsed, stream_messages_sent


def peak_rss_mb(port: int, seconds: float, workdir: Path, zeroconf: bool) -> float:
    """Peak RSS of the real bridge running the fleet, health and HTTP for ``seconds``."""
    http_port = free_port()
    workdir.mkdir()
    config = workdir / "bridge.yaml"
    config.write_text(
        bridge_config(
            port, http_port, workdir / "state", fleet_count=8, rate_hz=4, zeroconf=zeroconf
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "iot_monitor_bridge", "run", "--config", str(config)]
    )
    status = Path(f"/proc/{process.pid}/status")
    served = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(SCRAPE_INTERVAL_S)
        served += _scrape(http_port)
    # The process's peak RSS since it exec'd the bridge; the kernel keeps the peak, so one
    # read at the end is enough. Not ``ru_maxrss`` of the child: Linux folds the pre-exec
    # address space's peak into it, and a child spawned by vfork shares this benchmark's
    # (much larger) one until exec.
    peak_kb = proc_counter(status, "VmHWM")
    process.send_signal(signal.SIGTERM)
    if process.wait(30) != 0:
        raise RuntimeError(f"the bridge exited with {process.returncode}")
    if not served:
        raise RuntimeError("the bridge's HTTP endpoint never answered")
    return peak_kb / 1024


def _scrape(http_port: int) -> int:
    """Fetch /health and /metrics; how many of the two were served."""
    served = 0
    for page in ("/health", "/metrics"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{page}", timeout=5) as reply:
                reply.read()
        except urllib.error.HTTPError:  # 503 from /health while no broker is connected
            pass
        except OSError:  # not listening yet
            continue
        served += 1
    return served


RUNS: dict[str, tuple[str, int, int]] = {
    "batches, defaults": ("raw paho, the bridge's messages, 20 in flight", CHUNK, 20),
    "batches, unlimited": ("raw paho, the bridge's messages, no limit", CHUNK, 0),
    "single, defaults": ("raw paho, a message per reading, 20 in flight", 1, 20),
    "single, unlimited": ("raw paho, a message per reading, no limit", 1, 0),
}
"""Raw paho runs: label, readings per message, paho's in-flight limit (0: none)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="readings per run")
    parser.add_argument("--rounds", type=int, default=5, help="medians over this many rounds")
    parser.add_argument("--rss-seconds", type=float, default=20.0)
    parser.add_argument(
        "--skip-zeroconf",
        action="store_true",
        help="leave out the memory run with zeroconf on (it sends mDNS multicast here)",
    )
    args = parser.parse_args()
    count = args.messages
    runs: dict[str, list[float]] = {name: [] for name in [*RUNS, "bridge"]}
    per_message: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        try:
            for round_ in range(args.rounds):  # interleaved, so load changes hit all alike
                for name, (_, size, inflight) in RUNS.items():
                    messages = raw_messages(count, size)
                    runs[name].append(count / raw_paho(broker.port, messages, inflight))
                spool_dir = workdir / f"round-{round_}"
                spool_dir.mkdir()
                rate, sent = asyncio.run(bridge_path(broker.port, count, spool_dir))
                runs["bridge"].append(rate)
                per_message.append(count / sent)
            rss = {
                zeroconf: peak_rss_mb(
                    broker.port, args.rss_seconds, workdir / f"memory-zeroconf-{zeroconf}", zeroconf
                )
                for zeroconf in ((False,) if args.skip_zeroconf else (False, True))
            }
        finally:
            broker.kill()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    batched = max(medians["batches, defaults"], medians["batches, unlimited"])
    single = max(medians["single, defaults"], medians["single, unlimited"])
    print(
        f"python {sys.version.split()[0]}, {count} readings x {args.rounds} rounds, QoS 1, "
        f"bridge window {MAX_INFLIGHT} messages, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"readings per stream message: raw {CHUNK}, bridge "
        f"{statistics.median(per_message):.1f} (median; at most {STREAM_BATCH})"
    )
    labels = {name: label for name, (label, _, _) in RUNS.items()} | {"bridge": "bridge, full path"}
    for name, values in runs.items():
        spread = " ".join(f"{value:.0f}" for value in values)
        print(f"{labels[name]:48s} {medians[name]:8.0f} readings/s median  ({spread})")
    print(
        f"{'ratio, bridge / faster raw paho, same messages:':56s} "
        f"{medians['bridge'] / batched:6.2f}   (raw paho does no per-reading work)"
    )
    print(
        f"{'ratio, bridge / faster raw paho, a message per reading:':56s} "
        f"{medians['bridge'] / single:6.2f}   (batching beats it: > 1)"
    )
    print(
        f"peak RSS (VmHWM) of the bridge, {args.rss_seconds:.0f} s with the 8 x 4 Hz fleet, "
        f"health every {HealthConfig().interval:.0f} s, "
        f"/health and /metrics fetched every {SCRAPE_INTERVAL_S:.0f} s:"
    )
    for zeroconf, megabytes in rss.items():
        label = "zeroconf on (a Pi's default)" if zeroconf else "zeroconf off"
        goal = "" if zeroconf else "   (goal <= 40)"
        print(f"  {label:40s} {megabytes:7.1f} MB{goal}")


if __name__ == "__main__":
    main()
