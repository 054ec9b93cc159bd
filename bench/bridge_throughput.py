"""Bridge publish throughput against a raw paho-mqtt loop, and the bridge's peak memory.

One private Mosquitto serves every part of the run:

1. baseline: a plain paho-mqtt client publishes N readings at QoS 1 and waits for every
   PUBACK, once with paho's defaults and once without an in-flight limit; the faster of
   the two is the baseline;
2. bridge: the same N readings through the bridge's full path in this process
   (Reading -> spool append -> JSON payload -> publish -> PUBACK -> spool ack, commits
   with the default settings);
3. memory: the real bridge (``python -m iot_monitor_bridge run``) with the 8 x 4 Hz fleet,
   the health sensors and the HTTP endpoint (``/health`` and ``/metrics`` fetched every
   second, as a scraper would) for a while; its peak RSS (``VmHWM``). Once with zeroconf
   off and once with it on (the default on a Pi: it announces over mDNS on this machine's
   interfaces; ``--skip-zeroconf`` leaves that run out).

Goals: bridge/baseline >= 0.7, peak RSS <= 40 MB. Results go to docs/performance.md.

    .venv-bridge311/bin/python bench/bridge_throughput.py [--messages 20000] [--rounds 5]

Rounds interleave the three runs and the medians are compared, so a busy machine skews
them alike.
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
    bridge_config,
    bridge_pipeline,
    emit_readings,
    proc_counter,
    reading,
    wire_message,
)

from iot_monitor_bridge.config import HealthConfig  # noqa: E402
from iot_monitor_bridge.drivers.base import now_ms  # noqa: E402
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402

SCRAPE_INTERVAL_S = 1.0
"""How often the memory run fetches /health and /metrics (a Prometheus agent: 15 s)."""


def baseline(port: int, count: int, max_inflight: int) -> float:
    """Messages/s of a raw paho QoS 1 loop, first publish to last PUBACK.

    ``max_inflight`` 20 is paho's default; 0 lets paho send everything at once.
    """
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
    ts = now_ms()
    payloads = [wire_message(reading(n, ts + n)) for n in range(count)]
    started = time.perf_counter()
    for topic, payload in payloads:
        client.publish(topic, payload, qos=1)
    if not done.wait(300):
        raise RuntimeError(f"baseline: only {acked} of {count} acknowledged")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


async def bridge_path(port: int, count: int, workdir: Path) -> float:
    """Messages/s through spool, payload, publish, PUBACK and spool ack."""
    spool, link, publisher = bridge_pipeline(port, workdir / "spool.db")
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
    return count / elapsed


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5, help="medians over this many rounds")
    parser.add_argument("--rss-seconds", type=float, default=20.0)
    parser.add_argument(
        "--skip-zeroconf",
        action="store_true",
        help="leave out the memory run with zeroconf on (it sends mDNS multicast here)",
    )
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"paho defaults": [], "paho unlimited": [], "bridge": []}
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        try:
            for round_ in range(args.rounds):  # interleaved, so load changes hit all alike
                runs["paho defaults"].append(baseline(broker.port, args.messages, 20))
                runs["paho unlimited"].append(baseline(broker.port, args.messages, 0))
                spool_dir = workdir / f"round-{round_}"
                spool_dir.mkdir()
                runs["bridge"].append(
                    asyncio.run(bridge_path(broker.port, args.messages, spool_dir))
                )
            rss = {
                zeroconf: peak_rss_mb(
                    broker.port, args.rss_seconds, workdir / f"memory-zeroconf-{zeroconf}", zeroconf
                )
                for zeroconf in ((False,) if args.skip_zeroconf else (False, True))
            }
        finally:
            broker.kill()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    base = max(medians["paho defaults"], medians["paho unlimited"])
    print(
        f"python {sys.version.split()[0]}, {args.messages} messages x {args.rounds} rounds, "
        f"QoS 1, bridge window {MAX_INFLIGHT}, load average {os.getloadavg()[0]:.1f}"
    )
    labels = {
        "paho defaults": "baseline, paho defaults (20 in flight)",
        "paho unlimited": "baseline, paho no in-flight limit",
        "bridge": "bridge, full path",
    }
    for name, values in runs.items():
        spread = " ".join(f"{value:.0f}" for value in values)
        print(f"{labels[name]:40s} {medians[name]:7.0f} msg/s median  ({spread})")
    print(
        f"ratio, bridge / faster baseline:         {medians['bridge'] / base:7.2f}   (goal >= 0.7)"
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
