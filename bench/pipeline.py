"""What the benchmarks share: the bridge's publish path (spool, MQTT link and publisher), the
readings they feed it, the real bridge's configuration and the counters read from ``/proc``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from iot_monitor_bridge.config import BrokerConfig, MqttConfig, SpoolConfig
from iot_monitor_bridge.contract.readings import encode_stream
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.model import DeviceSpec, Reading, SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import STREAM_BATCH, Publisher
from iot_monitor_bridge.runtime.spool import Spool

TOPICS = Topics("iot_monitor", "bench", "homeassistant")
DEVICES = 8
SENSOR = SensorSpec("temperature", "Temperature", unit="°C")
CHUNK = 50
"""Readings handed to the publisher at a time, as drivers would between two awaits: the
publisher sends the readings of one loop turn as one stream message, so ``CHUNK`` per
message while it keeps up."""
SEQ_BASE = 1_767_268_790_000_000
"""A seq of the size the spool hands out (the wall clock in microseconds when its file was
made), for payloads built without a spool."""


def reading(n: int, ts_ms: int) -> Reading:
    """The ``n``-th temperature reading of the fleet, round-robin over its devices."""
    return Reading(f"fleet_{n % DEVICES + 1}", "temperature", round(20 + (n % 100) / 10, 1), ts_ms)


def numbered(n: int, ts_ms: int) -> Reading:
    """``reading(n, ts_ms)`` with a seq as the spool would give it."""
    return msgspec.structs.replace(reading(n, ts_ms), seq=SEQ_BASE + n)


def wire_message(reading: Reading) -> tuple[str, bytes]:
    """The topic and payload of ``reading`` alone on the stream (a message of one reading)."""
    return TOPICS.stream, encode_stream([reading])


def stream_messages(readings: list[Reading], per_message: int) -> list[tuple[str, bytes]]:
    """``readings`` as stream messages of ``per_message`` readings (at most ``STREAM_BATCH``)."""
    if not 0 < per_message <= STREAM_BATCH:
        raise ValueError(f"1 to {STREAM_BATCH} readings per message")
    return [
        (TOPICS.stream, encode_stream(readings[start : start + per_message]))
        for start in range(0, len(readings), per_message)
    ]


async def emit_readings(publisher: Publisher, count: int, ts_ms: int) -> None:
    """Hand ``count`` readings to the publisher, ``CHUNK`` between two yields to the loop."""
    for first in range(0, count, CHUNK):
        for n in range(first, min(first + CHUNK, count)):
            publisher.emit(reading(n, ts_ms + n))
        await asyncio.sleep(0)


def bridge_pipeline(port: int, spool_path: Path) -> tuple[Spool, MqttLink, Publisher]:
    """A started publisher over a new spool, with a link to the broker on ``port`` not yet
    started: the caller decides when the connection comes up."""
    spool = Spool(spool_path, SpoolConfig())
    config = MqttConfig(brokers=[BrokerConfig(host="127.0.0.1", port=port)])
    link = MqttLink(config, client_id="bench-bridge", availability_topic=TOPICS.availability)
    devices = [
        DeviceSpec(f"fleet_{n}", f"Fleet {n}", "bench", sensors=(SENSOR,))
        for n in range(1, DEVICES + 1)
    ]
    publisher = Publisher(
        link=link,
        spool=spool,
        info=BridgeInfo("bench", "Bench", "0", TOPICS),
        devices=devices,
        outputs={},
    )
    publisher.start()
    return spool, link, publisher


def bridge_config(
    port: int,
    http_port: int,
    state_dir: Path,
    *,
    fleet_count: int,
    rate_hz: int,
    zeroconf: bool,
    synchronous: str = "normal",
) -> str:
    """The real bridge's configuration: a simulated fleet, defaults but for what a private
    run needs."""
    return (
        "bridge: {id: bench, name: Bench}\n"
        f"mqtt: {{brokers: [{{host: 127.0.0.1, port: {port}}}]}}\n"
        f"http: {{port: {http_port}, bind: 127.0.0.1}}\n"
        f"zeroconf: {{enabled: {str(zeroconf).lower()}}}\n"
        f"state_dir: {state_dir}\n"
        f"spool: {{synchronous: {synchronous}}}\n"
        "log_level: warning\n"
        f"devices:\n  - {{id: fleet, simulate: {{count: {fleet_count}, rate_hz: {rate_hz}}}}}\n"
    )


def proc_counter(path: Path, name: str) -> int:
    """The number after ``name:`` in a ``/proc`` file such as ``/proc/<pid>/status``."""
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in {path}")
