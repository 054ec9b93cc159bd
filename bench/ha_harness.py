"""What the Home Assistant benchmarks share: a real Home Assistant in this process, on its own
event loop, with its real MQTT client on a private Mosquitto; a probe of that loop's lag; and
a publisher process that sends readings at a paced rate.

Home Assistant runs as ``hass -c DIR`` runs it: the loop is made by
``homeassistant.runner.create_event_loop`` and Home Assistant by ``bootstrap.async_setup_hass``
with a ``configuration.yaml`` of its own (so every default integration loads, frontend and
HTTP server included, the server on a free loopback port), then ``HomeAssistant.async_run``.
MQTT and this integration are set up through their config flows, as the UI does. What differs
from the ``hass`` command: the loop runs on a thread of its own (not the main thread, and
without signal handlers), and the benchmark's own coroutine runs on it too: it sleeps or polls
a counter while something is measured.

The publisher is another process (``python bench/ha_harness.py publish ...``) so that it does
not share Home Assistant's interpreter lock. It speaks MQTT 3.1.1 over a plain socket: each
reading becomes bytes with no client library in between, so it outpaces Home Assistant by far
and its own cost does not limit what is measured. It publishes at QoS 1, as the bridge does,
and waits for every PUBACK before it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iot_monitor_bridge.contract.readings import (  # noqa: E402
    Reading,
    encode_state,
    encode_stream,
)
from iot_monitor_bridge.contract.topics import Topics  # noqa: E402

T = TypeVar("T")
TOPIC_ROOT = "iot_monitor"
STREAM_BATCH = 200
"""Readings per stream message at most: the bridge's ``publisher.STREAM_BATCH``."""
TICK_S = 0.005
"""The publisher's pace: every 5 ms it sends what is due. The simulated fleet wakes at most
this often too (``MIN_WAKE_S``), and the bridge puts what one wake-up emits in one message."""

CONFIGURATION = """\
# Home Assistant for an iot-monitor benchmark (a temporary directory).
homeassistant:
  name: bench
  unit_system: metric
  time_zone: UTC
  country: ID
  currency: IDR
  latitude: -6.2
  longitude: 106.8
  elevation: 8
logger:
  default: warning
"""
RECORDER = """\
recorder:
  db_url: sqlite:///{path}
"""


# ----- Home Assistant in this process ----------------------------------------------------


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on an event loop made and configured as Home Assistant's runner does.

    The loop gets a thread of its own: Home Assistant then forbids blocking calls on that
    thread only, and this one stays free for what blocks (the broker, the bridge, files).
    """
    from homeassistant import runner

    outcome: list[T] = []
    failure: list[BaseException] = []

    def loop_thread() -> None:
        loop = runner.create_event_loop()
        asyncio.set_event_loop(loop)
        try:
            outcome.append(loop.run_until_complete(main()))
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            failure.append(err)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    thread = threading.Thread(target=loop_thread, name="hass-loop")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _prepare_config_dir(config_dir: Path, http_port: int, *, recorder: bool) -> None:
    """configuration.yaml, the integration linked from this checkout, HTTP on loopback."""
    config_dir.mkdir(parents=True, exist_ok=True)
    configuration = CONFIGURATION
    if recorder:
        configuration += RECORDER.format(path=config_dir / "home-assistant_v2.db")
    (config_dir / "configuration.yaml").write_text(configuration)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / "iot_monitor"
    if not link.is_symlink():
        link.symlink_to(REPO / "custom_components" / "iot_monitor")
    # Home Assistant keeps its HTTP settings in this store (YAML is only migrated once); a
    # confirmed ("stable") entry binds the server to loopback on a port of our own.
    from homeassistant.components.http.config import HTTP_STORAGE_SCHEMA

    stable = HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": http_port})
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    (storage / "http").write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {
                    "stable": {**stable, "error": None, "error_message": None},
                    "pending": None,
                    "yaml_migration_done": True,
                },
            }
        )
    )


@asynccontextmanager
async def home_assistant(config_dir: Path, *, recorder: bool = False) -> AsyncIterator[Any]:
    """A started Home Assistant on the running loop, stopped on exit."""
    from homeassistant import bootstrap
    from homeassistant.core import CoreState
    from homeassistant.runner import RuntimeConfig

    from tests.support.mosquitto import free_port

    _prepare_config_dir(config_dir, free_port(), recorder=recorder)
    hass = await bootstrap.async_setup_hass(
        RuntimeConfig(
            config_dir=str(config_dir),
            skip_pip=True,
            log_file=str(config_dir / "home-assistant.log"),
        )
    )
    if hass is None:
        raise RuntimeError(f"Home Assistant did not set up; see {config_dir}/home-assistant.log")
    running = asyncio.create_task(hass.async_run(attach_signals=False))
    deadline = time.monotonic() + 300
    while hass.state is not CoreState.running:
        if running.done():
            running.result()
            raise RuntimeError("Home Assistant stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError("Home Assistant did not start within 300 s")
        await asyncio.sleep(0.1)
    try:
        yield hass
    finally:
        await hass.async_stop()
        await running


async def async_set_up_mqtt(hass: Any, port: int) -> None:
    """Add the MQTT integration for the broker on ``port`` through its config flow."""
    from homeassistant.components import mqtt

    flow = hass.config_entries.flow
    result = await flow.async_init("mqtt", context={"source": "user"})
    while result.get("type") == "menu":
        result = await flow.async_configure(result["flow_id"], {"next_step_id": "broker"})
    result = await flow.async_configure(
        result["flow_id"],
        {
            "broker": "127.0.0.1",
            "port": port,
            "other_settings": {"set_client_cert": False, "set_ca_cert": "off"},
        },
    )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"MQTT set-up failed: {result}")
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise RuntimeError("Home Assistant's MQTT client did not connect")


async def async_add_bridge(hass: Any, bridge_id: str, options: dict[str, Any] | None = None) -> Any:
    """Add the bridge through the integration's config flow (the user step); its entry.

    The flow reads the bridge's retained description, so it must be on the broker already.
    ``options`` are saved as the options flow would (the entry reloads with them).
    """
    flow = hass.config_entries.flow
    result = await flow.async_init("iot_monitor", context={"source": "user"})
    result = await flow.async_configure(
        result["flow_id"], {"bridge_id": bridge_id, "topic_root": TOPIC_ROOT}
    )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"adding bridge {bridge_id} failed: {result}")
    entry = result["result"]
    if options:
        hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
        await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    return hass.config_entries.async_get_entry(entry.entry_id)


async def async_wait_for(
    condition: Callable[[], bool], within: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``condition`` on the loop until it holds (what it watches has no event to await)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


class LagProbe:
    """How late Home Assistant's loop runs what is due: a ``loop.call_later`` every
    ``interval`` seconds notes how long after its deadline it ran."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.01) -> None:
        self._loop = loop
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf
        self.max_lag = 0.0
        self.samples = 0

    def start(self) -> None:
        self._due = self._loop.time() + self._interval
        self._handle = self._loop.call_at(self._due, self._fired)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self) -> None:
        """Start a new measurement period."""
        self.max_lag = 0.0
        self.samples = 0

    def _fired(self) -> None:
        now = self._loop.time()
        lag = now - self._due
        self.max_lag = max(self.max_lag, lag)
        self.samples += 1
        self._due = now + self._interval
        self._handle = self._loop.call_at(self._due, self._fired)


# ----- what is published ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fleet:
    """``devices`` devices of ``sensors`` numeric sensors each, on bridge ``bridge_id``."""

    bridge_id: str
    devices: int
    sensors: int

    @property
    def topics(self) -> Topics:
        return Topics(TOPIC_ROOT, self.bridge_id)

    @property
    def size(self) -> int:
        return self.devices * self.sensors

    def sensor_keys(self) -> list[tuple[str, str]]:
        """(device id, sensor id) of every sensor, in publishing order."""
        return [
            (f"dev_{d:03d}", f"t{s}")
            for d in range(1, self.devices + 1)
            for s in range(self.sensors)
        ]

    def specs(self) -> list[Any]:
        """The bridge's device specs of the fleet (numeric temperature sensors)."""
        from iot_monitor_bridge.model import DeviceSpec, SensorSpec

        sensors = tuple(
            SensorSpec(
                f"t{s}",
                f"Temperature {s}",
                unit="°C",
                device_class="temperature",
                state_class="measurement",
                precision=1,
            )
            for s in range(self.sensors)
        )
        return [
            DeviceSpec(f"dev_{d:03d}", f"Device {d}", "Bench sensor", sensors=sensors)
            for d in range(1, self.devices + 1)
        ]

    def retained(self, *, discovery: bool) -> list[tuple[str, bytes]]:
        """What the bridge retains: availability ``online``, its description and, with
        ``discovery``, Home Assistant's device discovery of every device (one MQTT sensor
        entity per sensor, on the sensor's state topic), all built by the bridge's own code."""
        from iot_monitor_bridge.contract.description import encode_description
        from iot_monitor_bridge.contract.ids import object_id
        from iot_monitor_bridge.protocol.discovery import (
            BridgeInfo,
            description,
            device_discovery,
        )

        topics = self.topics
        info = BridgeInfo(self.bridge_id, f"Bench {self.bridge_id}", "0", topics)
        devices = self.specs()
        messages = [
            (topics.availability, b"online"),
            (topics.description, encode_description(description(info, devices))),
        ]
        if discovery:
            messages += [
                (
                    topics.discovery(object_id(self.bridge_id, device.id)),
                    json.dumps(device_discovery(info, device)).encode(),
                )
                for device in devices
            ]
        return messages


def reading_value(n: int, sensors: int) -> float:
    """The ``n``-th reading's value: each sensor's value changes with every reading, so each
    reading on a state topic is a new state for Home Assistant's MQTT sensor."""
    return round(20.0 + (n // sensors % 100) / 10, 1)


# ----- the publisher process -------------------------------------------------------------


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


class RawPublisher:
    """A minimal MQTT 3.1.1 client that only publishes, at QoS 1 (or retained)."""

    def __init__(self, port: int, client_id: str) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        variable = b"\x00\x04MQTT\x04\x02\x00\x3c" + _string(client_id.encode())  # clean, 60 s
        self._sock.sendall(b"\x10" + _remaining_length(len(variable)) + variable)
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self._mid = 0
        self.sent = 0
        self.acked = 0
        self._acked_all = threading.Event()
        self._closing = False
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            start = 0
            while len(buffer) - start >= 2:
                # PUBACK (0x40) and PINGRESP are two or four bytes: remaining length < 128.
                size = 2 + buffer[start + 1]
                if len(buffer) - start < size:
                    break
                if buffer[start] == 0x40:
                    self.acked += 1
                start += size
            buffer = buffer[start:]
            if self._closing and self.acked >= self.sent:
                self._acked_all.set()

    def packet(self, topic: str, payload: bytes, *, retain: bool = False) -> bytes:
        self._mid = self._mid % 65535 + 1
        self.sent += 1
        body = _string(topic.encode()) + struct.pack("!H", self._mid) + payload
        header = 0x32 | (0x01 if retain else 0)
        return bytes((header,)) + _remaining_length(len(body)) + body

    def send(self, packets: Iterable[bytes]) -> None:
        self._sock.sendall(b"".join(packets))

    def close(self, timeout: float = 120.0) -> bool:
        """Wait for every PUBACK, then disconnect; whether all came."""
        self._closing = True
        if self.acked >= self.sent:
            self._acked_all.set()
        complete = self._acked_all.wait(timeout)
        self._sock.sendall(b"\xe0\x00")
        self._sock.close()
        return complete


def publish_paced(
    port: int, fleet: Fleet, *, mode: str, rate: float, seconds: float, first: int
) -> dict[str, Any]:
    """Publish ``rate * seconds`` readings, the ``first``-th on, round-robin over the fleet.

    ``stream``: what is due every ``TICK_S`` goes in stream messages of up to ``STREAM_BATCH``
    readings. ``states``: each reading on its sensor's state topic (``{"v","ts","seq"}``).
    Readings carry the time they are sent (ms) and ``seq`` = their number + 1.
    """
    publisher = RawPublisher(port, f"bench-publisher-{os.getpid()}")
    topics = fleet.topics
    keys = fleet.sensor_keys()
    size = len(keys)
    state_topics = [topics.state(*key) for key in keys]
    stream_topic = topics.stream
    total = round(rate * seconds)
    packet = publisher.packet
    sent = 0
    behind = 0.0
    started = time.monotonic()
    next_tick = started
    while sent < total:
        now = time.monotonic()
        due = min(total, int(rate * (now - started)) + 1)
        if due > sent:
            ts = time.time_ns() // 1_000_000
            readings = [
                Reading(
                    *keys[(first + n) % size], reading_value(first + n, size), ts, first + n + 1
                )
                for n in range(sent, due)
            ]
            if mode == "stream":
                publisher.send(
                    packet(stream_topic, encode_stream(readings[i : i + STREAM_BATCH]))
                    for i in range(0, len(readings), STREAM_BATCH)
                )
            else:
                publisher.send(
                    packet(state_topics[(r.seq - 1) % size], encode_state(r)) for r in readings
                )
            sent = due
        next_tick += TICK_S
        pause = next_tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            behind = max(behind, -pause)
            next_tick = time.monotonic()
    elapsed = time.monotonic() - started
    complete = publisher.close()
    return {
        "sent": sent,
        "seconds": elapsed,
        "acked": publisher.acked,
        "complete": complete,
        "behind_s": behind,
    }


def publish_retained(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish retained messages at QoS 1 and wait for the broker to take them all."""
    publisher = RawPublisher(port, f"bench-retained-{os.getpid()}")
    publisher.send(publisher.packet(topic, payload, retain=True) for topic, payload in messages)
    if not publisher.close(30):
        raise RuntimeError("the broker did not acknowledge the retained messages")


async def async_publish(
    port: int, fleet: Fleet, *, mode: str, rate: float, seconds: float, first: int
) -> dict[str, Any]:
    """Run ``publish_paced`` in a publisher process; its report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "publish",
        f"--port={port}",
        f"--bridge={fleet.bridge_id}",
        f"--devices={fleet.devices}",
        f"--sensors={fleet.sensors}",
        f"--mode={mode}",
        f"--rate={rate}",
        f"--seconds={seconds}",
        f"--first={first}",
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"the publisher failed with exit code {process.returncode}")
    report: dict[str, Any] = json.loads(stdout)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="the benchmarks' publisher process")
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish")
    publish.add_argument("--port", type=int, required=True)
    publish.add_argument("--bridge", required=True)
    publish.add_argument("--devices", type=int, required=True)
    publish.add_argument("--sensors", type=int, required=True)
    publish.add_argument("--mode", choices=("stream", "states"), required=True)
    publish.add_argument("--rate", type=float, required=True)
    publish.add_argument("--seconds", type=float, required=True)
    publish.add_argument("--first", type=int, default=0)
    args = parser.parse_args()
    fleet = Fleet(args.bridge, args.devices, args.sensors)
    report = publish_paced(
        args.port, fleet, mode=args.mode, rate=args.rate, seconds=args.seconds, first=args.first
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
