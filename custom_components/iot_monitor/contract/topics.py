"""Every MQTT topic between the bridge and Home Assistant, built in one place (docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_TOPIC_ROOT: Final = "iot_monitor"
DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
DESCRIPTION_SUBSCRIPTION: Final = f"{DEFAULT_TOPIC_ROOT}/+/description"
"""Where bridges with the default topic root publish their retained description."""


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one bridge."""

    topic_root: str
    bridge_id: str
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX

    @property
    def base(self) -> str:
        """Return ``<topic_root>/<bridge_id>``, under which the bridge's own topics live."""
        return f"{self.topic_root}/{self.bridge_id}"

    @property
    def availability(self) -> str:
        """Retained ``online``/``offline``; ``offline`` is also the broker-published will."""
        return f"{self.base}/availability"

    @property
    def description(self) -> str:
        """Retained JSON description of the bridge's devices, sensors and outputs."""
        return f"{self.base}/description"

    @property
    def stream(self) -> str:
        """Every reading, in ``seq`` order, in batches: what the integration computes from."""
        return f"{self.base}/stream"

    @property
    def command(self) -> str:
        """JSON commands from Home Assistant, each with an ``id``."""
        return f"{self.base}/command"

    @property
    def command_result(self) -> str:
        """One JSON result per command, carrying the command's ``id``."""
        return f"{self.base}/command/result"

    @property
    def output_set_wildcard(self) -> str:
        """Match the switch command topic of every output."""
        return f"{self.base}/+/+/set"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/will topic: ``online`` means republish everything."""
        return f"{self.discovery_prefix}/status"

    def state(self, device_id: str, sensor_id: str) -> str:
        """Return the calm state topic of one sensor or output: only its newest value."""
        return f"{self.base}/{device_id}/{sensor_id}/state"

    def output_set(self, device_id: str, output_id: str) -> str:
        """Return the topic of Home Assistant's switch commands (``ON``/``OFF``) for an output."""
        return f"{self.base}/{device_id}/{output_id}/set"

    def parse_output_set(self, topic: str) -> tuple[str, str] | None:
        """Return ``(device_id, output_id)`` for an output command topic, else ``None``."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix) : -len("/set")].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else None

    def discovery(self, object_id: str) -> str:
        """Return the device-based discovery config topic of one device (retained)."""
        return f"{self.discovery_prefix}/device/{object_id}/config"
