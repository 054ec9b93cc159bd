"""Every MQTT topic the bridge uses, built in one place (documented in docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    topic_root: str
    bridge_id: str
    discovery_prefix: str

    @property
    def base(self) -> str:
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
    def command(self) -> str:
        """JSON commands from Home Assistant, each with an ``id``."""
        return f"{self.base}/command"

    @property
    def command_result(self) -> str:
        """One JSON result per command, carrying the command's ``id``."""
        return f"{self.base}/command/result"

    @property
    def state_wildcard(self) -> str:
        """Matches every reading of this bridge."""
        return f"{self.base}/+/+/state"

    @property
    def output_set_wildcard(self) -> str:
        return f"{self.base}/+/+/set"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/will topic: ``online`` means republish everything."""
        return f"{self.discovery_prefix}/status"

    def state(self, device_id: str, sensor_id: str) -> str:
        """Readings of one sensor (or the echoed state of one output)."""
        return f"{self.base}/{device_id}/{sensor_id}/state"

    def output_set(self, device_id: str, output_id: str) -> str:
        """Home Assistant's switch commands: ``ON`` or ``OFF``."""
        return f"{self.base}/{device_id}/{output_id}/set"

    def parse_output_set(self, topic: str) -> tuple[str, str] | None:
        """``(device_id, output_id)`` for an output command topic, else ``None``."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix) : -len("/set")].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else None

    def discovery(self, object_id: str) -> str:
        """Home Assistant device-based discovery config for one device (retained)."""
        return f"{self.discovery_prefix}/device/{object_id}/config"
