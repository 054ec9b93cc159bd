"""Spool benchmark: write rate, drain after an outage against a raw paho loop, fsyncs per second.

One private Mosquitto serves the whole run:

1. write: N readings go through the bridge's real entry point (``Publisher.emit``) while no
   broker connection exists, so each one is appended to the spool with the default settings
   (commits batched by ``commit_interval`` / ``commit_every``): readings/s written.
2. raw: a plain paho-mqtt client publishes the same N readings (read back from the spool),
   one stream message per reading, at QoS 1 with the same in-flight window and waits for
   every PUBACK: messages/s. This is the per-message baseline the bridge had before the
   stream was batched.
3. drain: the link connects; the publisher drains the N spooled readings through its real
   path (``Spool.pending`` -> ``encode_stream`` in batches of ``STREAM_BATCH`` -> publish
   QoS 1 -> PUBACK -> ``Spool.ack``), timed from the connection to the last acknowledged
   reading: readings/s, and the ratio to the raw loop. Goal >= 0.5.
4. fsync: the real bridge (``python -m iot_monitor_bridge run``) with a simulated fleet of
   10 devices x 5 sensors x 4 Hz = 200 readings/s and the spool's ``synchronous`` setting
   given by ``--synchronous`` (default: ``normal``, the bridge's default) runs under
   ``strace -f -ttt -e trace=fsync,fdatasync``, once with the broker up and once with no
   broker (backlog growing); syncs per second are counted in the steady state (after a
   warm-up, before the shutdown signal), so the one-off syncs of creating the spool file and
   of the final checkpoint are left out. Goal < 1/s. ``write_bytes`` from ``/proc/<pid>/io``
   gives the bytes the bridge sent to storage per second. Needs strace
   (``apt-get install strace``); without it this part is skipped and says so.

    .venv-bridge311/bin/python bench/spool.py [--readings 100000] [--fsync-seconds 60]
        [--synchronous off normal full] [--fsync-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    wire_message,
)

from iot_monitor_bridge.drivers.base import now_ms  # noqa: E402
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402

FLEET_COUNT = 10
FLEET_RATE_HZ = 4
READINGS_PER_S = FLEET_COUNT * 5 * FLEET_RATE_HZ
WARM_UP_S = 5.0


@dataclass
class DrainResult:
    write_per_s: float
    raw_per_s: float
    drain_per_s: float


def raw_loop(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Messages/s of a plain paho QoS 1 loop, first publish to last PUBACK.

    paho's own network loop (``loop_forever``) on this thread: the first ``MAX_INFLIGHT``
    messages go out on CONNACK, then each PUBACK sends the next one. The window is kept
    here, as the bridge keeps it, with paho's own in-flight limit off: with it on, paho
    looks through every queued message on each PUBACK (about 170 msg/s for 100 000 messages
    at its default of 20). No window at all is not an option at this size: MQTT packet ids
    are 16 bits, so more than 65 535 messages cannot be awaiting PUBACK at once.
    """
    sent = acked = 0
    started = 0.0

    def publish_next(client: mqtt.Client) -> None:
        nonlocal sent
        topic, payload = messages[sent]
        sent += 1
        client.publish(topic, payload, qos=1)

    def on_connect(client: mqtt.Client, *_: Any) -> None:
        nonlocal started
        started = time.perf_counter()
        for _first_window in range(min(MAX_INFLIGHT, len(messages))):
            publish_next(client)

    def on_publish(client: mqtt.Client, *_: Any) -> None:
        nonlocal acked
        acked += 1
        if sent < len(messages):
            publish_next(client)
        elif acked == len(messages):
            client.disconnect()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw")
    client.max_inflight_messages_set(0)
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_forever()
    elapsed = time.perf_counter() - started
    if acked != len(messages):
        raise RuntimeError(f"raw loop: only {acked} of {len(messages)} acknowledged")
    return len(messages) / elapsed


async def outage_and_drain(port: int, count: int, spool_path: Path) -> DrainResult:
    """One round: fill a new spool while disconnected, the raw loop, then the drain."""
    spool, link, publisher = bridge_pipeline(port, spool_path)
    started = time.perf_counter()
    await emit_readings(publisher, count, now_ms())
    write_per_s = count / (time.perf_counter() - started)
    if spool.depth != count:
        raise RuntimeError(f"write: {spool.depth} of {count} readings in the spool")

    backlog = spool.pending(count + 1)
    messages = [wire_message(r) for r in backlog]
    raw_per_s = await asyncio.to_thread(raw_loop, port, messages)

    connected_at: list[float] = []
    link.on_up.append(lambda _broker: connected_at.append(time.perf_counter()))
    drained = asyncio.Event()
    acknowledged = link.on_published
    assert acknowledged is not None  # the publisher's

    def watch(mids: list[int]) -> None:
        acknowledged(mids)
        if not spool.depth:
            drained.set()

    link.on_published = watch
    link.start()
    await asyncio.wait_for(drained.wait(), 600)
    drain_per_s = count / (time.perf_counter() - connected_at[0])
    if publisher.published_total != count:
        raise RuntimeError(f"drain: {publisher.published_total} of {count} acknowledged")
    await link.close()
    await publisher.stop()
    spool.close()
    return DrainResult(write_per_s, raw_per_s, drain_per_s)


@dataclass
class SyncResult:
    label: str
    syncs_per_s: float
    syncs_total: int
    write_bytes_per_s: float
    seconds: float


def fsync_rate(
    port: int, seconds: float, workdir: Path, label: str, synchronous: str
) -> SyncResult:
    """Syncs per second of the real bridge at READINGS_PER_S, in the steady state."""
    label = f"{label}, synchronous {synchronous}"
    run_dir = workdir / label.replace(", ", "-").replace(" ", "-")
    run_dir.mkdir()
    config = run_dir / "bridge.yaml"
    config.write_text(
        bridge_config(
            port,
            free_port(),
            run_dir / "state",
            fleet_count=FLEET_COUNT,
            rate_hz=FLEET_RATE_HZ,
            zeroconf=False,
            synchronous=synchronous,
        )
    )
    trace = run_dir / "strace.txt"
    tracer = subprocess.Popen(
        ["strace", "-f", "-ttt", "-e", "trace=fsync,fdatasync", "-o", str(trace), "--",
         sys.executable, "-m", "iot_monitor_bridge", "run", "--config", str(config)]
    )  # fmt: skip
    try:
        bridge_pid = _bridge_under(tracer.pid)
        io = Path(f"/proc/{bridge_pid}/io")
        time.sleep(WARM_UP_S)  # a measuring window: the point is to let time pass
        window_start = time.time()
        bytes_start = proc_counter(io, "write_bytes")
        time.sleep(seconds)
        window_end = time.time()
        bytes_end = proc_counter(io, "write_bytes")
        os.kill(bridge_pid, signal.SIGTERM)
        if tracer.wait(60) != 0:
            raise RuntimeError(f"strace/bridge exited with {tracer.returncode}")
    finally:
        if tracer.poll() is None:
            tracer.kill()  # strace's tracee dies with it (PTRACE_O_EXITKILL)
            tracer.wait()
    stamps = [float(line.split()[1]) for line in trace.read_text().splitlines() if "sync(" in line]
    in_window = [t for t in stamps if window_start <= t < window_end]
    return SyncResult(
        label,
        len(in_window) / seconds,
        len(stamps),
        (bytes_end - bytes_start) / seconds,
        seconds,
    )


def _bridge_under(tracer_pid: int) -> int:
    """The pid of the bridge that strace started (a descendant, found by its command line)."""
    command = sys.executable.encode() + b"\0"  # not strace's own probe children
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = [tracer_pid]
        while pending:
            pid = pending.pop()
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            if cmdline.startswith(command) and b"iot_monitor_bridge" in cmdline:
                return pid
            pending.extend(int(child) for child in children)
        time.sleep(0.01)
    raise RuntimeError("strace did not start the bridge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fsync-seconds", type=float, default=60.0)
    parser.add_argument(
        "--synchronous",
        nargs="+",
        choices=["off", "normal", "full"],
        default=["normal"],
        help="spool settings for the fsync part (default: normal, the bridge's default)",
    )
    parser.add_argument("--fsync-only", action="store_true", help="skip write, raw and drain")
    args = parser.parse_args()
    have_strace = shutil.which("strace") is not None
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        syncs: list[SyncResult] = []
        try:
            rounds = [
                asyncio.run(outage_and_drain(broker.port, args.readings, workdir / f"{n}.db"))
                for n in range(0 if args.fsync_only else args.rounds)
            ]
            for synchronous in args.synchronous if have_strace else ():
                for port, label in ((broker.port, "online"), (free_port(), "offline")):
                    syncs.append(fsync_rate(port, args.fsync_seconds, workdir, label, synchronous))
        finally:
            broker.kill()
    if rounds:
        print_throughput(rounds, args.readings)
    if not have_strace:
        print("fsync: skipped, strace is not installed (apt-get install strace)")
    for result in syncs:
        print(
            f"fsync, bridge at {READINGS_PER_S} readings/s, broker {result.label}: "
            f"{result.syncs_per_s:.3f}/s over {result.seconds:.0f} s (goal < 1; "
            f"{result.syncs_total} in the whole run incl. start and stop), "
            f"{result.write_bytes_per_s / 1024:.1f} KiB/s written"
        )


def print_throughput(rounds: list[DrainResult], readings: int) -> None:
    print(
        f"python {sys.version.split()[0]}, {readings} readings, default spool settings, "
        f"QoS 1, window {MAX_INFLIGHT}, {len(rounds)} rounds (median, then each round)"
    )
    for label, values in (
        ("write (emit -> spool, no broker), readings/s", [r.write_per_s for r in rounds]),
        ("raw paho QoS 1 loop, msg/s", [r.raw_per_s for r in rounds]),
        ("drain after the outage, readings/s", [r.drain_per_s for r in rounds]),
    ):
        each = ", ".join(f"{value:.0f}" for value in values)
        print(f"{label:46} {statistics.median(values):9.0f}   ({each})")
    ratio = statistics.median(r.drain_per_s for r in rounds) / statistics.median(
        r.raw_per_s for r in rounds
    )
    print(f"{'ratio drain / raw (medians)':46} {ratio:9.2f}   (goal >= 0.5)")


if __name__ == "__main__":
    main()
