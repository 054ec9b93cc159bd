"""A bridge with the simulated fleet, described by the bridge's own code.

Integration tests feed Home Assistant what these functions return, so the payloads are
exactly what a running bridge publishes, not a hand-written copy that could drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from iot_monitor_bridge.config import DeviceConfig, SimulateConfig
from iot_monitor_bridge.contract.description import encode_description
from iot_monitor_bridge.contract.ids import object_id
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers.health import (
    CPU_TEMPERATURE,
    CPU_USAGE,
    DISK_FREE,
    HOST_UPTIME,
    LOAD_1M,
    MEMORY_FREE,
)
from iot_monitor_bridge.drivers.simulated import SimulatedFleet
from iot_monitor_bridge.model import DeviceSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo, description, device_discovery
from iot_monitor_bridge.runtime.bridge_device import bridge_device

HEALTH_SENSORS = (CPU_USAGE, CPU_TEMPERATURE, LOAD_1M, MEMORY_FREE, DISK_FREE, HOST_UPTIME)
"""Every health sensor, whatever the test machine has (the driver skips missing ones)."""


@dataclass(frozen=True)
class FleetBridge:
    """One bridge: its own device plus ``count`` simulated devices (8 as in the brief)."""

    bridge_id: str = "lab-pi"
    name: str = "Lab Pi"
    count: int = 8
    topic_root: str = "iot_monitor"
    discovery_prefix: str = "homeassistant"
    version: str = "0.1.0"
    extra: tuple[DeviceSpec, ...] = ()
    """Devices besides the bridge's own and the fleet's (a state machine's)."""
    info: BridgeInfo = field(init=False)
    devices: list[DeviceSpec] = field(init=False)

    def __post_init__(self) -> None:
        topics = Topics(self.topic_root, self.bridge_id, self.discovery_prefix)
        fleet = SimulatedFleet(
            DeviceConfig(id="fleet", name="Fleet", simulate=SimulateConfig(count=self.count))
        )
        object.__setattr__(
            self, "info", BridgeInfo(self.bridge_id, self.name, self.version, topics)
        )
        object.__setattr__(
            self,
            "devices",
            [bridge_device(self.name, HEALTH_SENSORS), *fleet.devices, *self.extra],
        )

    @property
    def topics(self) -> Topics:
        return self.info.topics

    @property
    def description_topic(self) -> str:
        return self.topics.description

    def description_payload(self) -> str:
        """The retained payload on ``description_topic``."""
        return encode_description(description(self.info, self.devices)).decode()

    def discovery_payloads(self) -> dict[str, str]:
        """Home Assistant's device-based discovery config, retained, by topic."""
        return {
            self.topics.discovery(object_id(self.bridge_id, device.id)): json.dumps(
                device_discovery(self.info, device)
            )
            for device in self.devices
        }
