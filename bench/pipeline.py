"""The bridge's publish path as the benchmarks drive it: spool, MQTT link and publisher."""

from __future__ import annotations

from pathlib import Path

from iot_monitor_bridge.config import BrokerConfig, MqttConfig, SpoolConfig
from iot_monitor_bridge.model import DeviceSpec, Reading, SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.protocol.topics import Topics
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import Publisher
from iot_monitor_bridge.runtime.spool import Spool

TOPICS = Topics("iot_monitor", "bench", "homeassistant")
DEVICES = 8
SENSOR = SensorSpec("temperature", "Temperature", unit="°C")
CHUNK = 50
"""Readings handed to the publisher at a time, as drivers would between two awaits."""


def reading(n: int, ts_ms: int) -> Reading:
    """The ``n``-th temperature reading of the fleet, round-robin over its devices."""
    return Reading(f"fleet_{n % DEVICES + 1}", "temperature", round(20 + (n % 100) / 10, 1), ts_ms)


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
