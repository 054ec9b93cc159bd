"""The bridge description (retained on ``<topic_root>/<bridge_id>/description``), parsed.

Pure: no Home Assistant imports. The schema is documented in docs/mqtt.md; anything that
does not match raises ``InvalidDescription`` so a config flow can abort cleanly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

SUPPORTED_SCHEMA: Final = 1
BRIDGE_DEVICE_ID: Final = "bridge"


class InvalidDescription(ValueError):
    """The payload is not a bridge description this integration understands."""


@dataclass(frozen=True, slots=True)
class SensorDescription:
    id: str
    name: str
    kind: str
    unit: str | None
    device_class: str | None
    state_class: str | None
    options: tuple[str, ...]
    precision: int | None
    diagnostic: bool
    topic: str

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"


@dataclass(frozen=True, slots=True)
class OutputDescription:
    id: str
    name: str
    state_topic: str
    command_topic: str


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    id: str
    name: str
    model: str
    identifier: str
    via: str | None
    sensors: tuple[SensorDescription, ...]
    outputs: tuple[OutputDescription, ...]

    @property
    def is_bridge(self) -> bool:
        return self.id == BRIDGE_DEVICE_ID


@dataclass(frozen=True, slots=True)
class BridgeDescription:
    id: str
    name: str
    version: str
    topic_root: str
    discovery_prefix: str
    availability_topic: str
    command_topic: str
    command_result_topic: str
    state_topic: str
    devices: tuple[DeviceDescription, ...]

    @property
    def device_count(self) -> int:
        """Devices behind the bridge, not counting the bridge itself."""
        return sum(1 for device in self.devices if not device.is_bridge)


def _get[T](data: dict[str, Any], key: str, kind: type[T], where: str) -> T:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidDescription(f"{where}.{key}: expected {kind.__name__}")
    return value


def _optional[T](data: dict[str, Any], key: str, kind: type[T], where: str) -> T | None:
    return None if data.get(key) is None else _get(data, key, kind, where)


def _objects(data: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    items = _get(data, key, list, where)
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidDescription(f"{where}.{key}[{index}]: expected object")
        out.append((f"{where}.{key}[{index}]", item))
    return out


def _sensor(data: dict[str, Any], where: str) -> SensorDescription:
    options = data.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise InvalidDescription(f"{where}.options: expected a list of strings")
    return SensorDescription(
        id=_get(data, "id", str, where),
        name=_get(data, "name", str, where),
        kind=_get(data, "kind", str, where),
        unit=_optional(data, "unit", str, where),
        device_class=_optional(data, "device_class", str, where),
        state_class=_optional(data, "state_class", str, where),
        options=tuple(options),
        precision=_optional(data, "precision", int, where),
        diagnostic=_optional(data, "diagnostic", bool, where) or False,
        topic=_get(data, "topic", str, where),
    )


def _output(data: dict[str, Any], where: str) -> OutputDescription:
    return OutputDescription(
        id=_get(data, "id", str, where),
        name=_get(data, "name", str, where),
        state_topic=_get(data, "state_topic", str, where),
        command_topic=_get(data, "command_topic", str, where),
    )


def _device(data: dict[str, Any], where: str) -> DeviceDescription:
    return DeviceDescription(
        id=_get(data, "id", str, where),
        name=_get(data, "name", str, where),
        model=_get(data, "model", str, where),
        identifier=_get(data, "identifier", str, where),
        via=_optional(data, "via", str, where),
        sensors=tuple(_sensor(item, at) for at, item in _objects(data, "sensors", where)),
        outputs=tuple(_output(item, at) for at, item in _objects(data, "outputs", where)),
    )


def parse_description(payload: str | bytes) -> BridgeDescription:
    """Parse and check a description payload; raise ``InvalidDescription`` if it is not one."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise InvalidDescription(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidDescription("expected a JSON object")
    schema = data.get("schema")
    if schema != SUPPORTED_SCHEMA:
        raise InvalidDescription(f"unsupported schema {schema!r}")
    topics = _get(data, "topics", dict, "description")
    return BridgeDescription(
        id=_get(data, "id", str, "description"),
        name=_get(data, "name", str, "description"),
        version=_get(data, "version", str, "description"),
        topic_root=_get(data, "topic_root", str, "description"),
        discovery_prefix=_get(data, "discovery_prefix", str, "description"),
        availability_topic=_get(topics, "availability", str, "topics"),
        command_topic=_get(topics, "command", str, "topics"),
        command_result_topic=_get(topics, "command_result", str, "topics"),
        state_topic=_get(topics, "state", str, "topics"),
        devices=tuple(_device(item, at) for at, item in _objects(data, "devices", "description")),
    )
