"""Home Assistant device-based MQTT discovery and the bridge description, from device specs.

Both are pure functions of the specs: the runtime publishes what they return, the
integration's tests feed what they return into Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from iot_monitor_bridge.model import (
    BRIDGE_DEVICE_ID,
    DeviceSpec,
    JsonValue,
    OutputSpec,
    SensorKind,
    SensorSpec,
)
from iot_monitor_bridge.protocol.topics import Topics

DESCRIPTION_SCHEMA: Final = 1
ORIGIN_URL: Final = "https://github.com/iot-monitor/iot-monitor"
_ON_OFF: Final = "{{ 'ON' if value_json.v else 'OFF' }}"
_VALUE: Final = "{{ value_json.v }}"

_PLATFORM: Final = {
    SensorKind.NUMERIC: "sensor",
    SensorKind.ENUM: "sensor",
    SensorKind.TEXT: "sensor",
    SensorKind.BINARY: "binary_sensor",
    SensorKind.LOCATION: "device_tracker",
}


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    id: str
    name: str
    version: str
    topics: Topics


def device_identifier(bridge_id: str, device_id: str) -> str:
    """The Home Assistant device identifier (in the ``mqtt`` domain) of a device.

    Parts are joined with ``/``, which no id may contain, so no two devices share one.
    """
    if device_id == BRIDGE_DEVICE_ID:
        return f"iot_monitor/{bridge_id}"
    return f"iot_monitor/{bridge_id}/{device_id}"


def object_id(bridge_id: str, device_id: str) -> str:
    """The discovery object id of a device: one retained config topic per device.

    Object ids allow only ``[A-Za-z0-9_-]``; bridge ids have no ``_``, so the first ``_``
    separates the bridge from the device.
    """
    return bridge_id if device_id == BRIDGE_DEVICE_ID else f"{bridge_id}_{device_id}"


def unique_id(bridge_id: str, device_id: str, item_id: str) -> str:
    """The unique id of a sensor or output: ``iot_monitor/<bridge>/<device>/<item>``."""
    return f"iot_monitor/{bridge_id}/{device_id}/{item_id}"


def _sensor_component(info: BridgeInfo, device: DeviceSpec, sensor: SensorSpec) -> dict[str, Any]:
    component: dict[str, Any] = {
        "p": _PLATFORM[sensor.kind],
        "unique_id": unique_id(info.id, device.id, sensor.id),
        "name": sensor.name,
    }
    state_topic = info.topics.state(device.id, sensor.id)
    if sensor.kind is SensorKind.LOCATION:
        component |= {
            "json_attributes_topic": state_topic,
            "json_attributes_template": "{{ value_json.v | tojson }}",
            "source_type": "gps",
        }
    else:
        component["state_topic"] = state_topic
        component["value_template"] = _ON_OFF if sensor.kind is SensorKind.BINARY else _VALUE
    if sensor.kind is SensorKind.ENUM:
        component["device_class"] = "enum"
        component["options"] = list(sensor.options)
    elif sensor.device_class is not None:
        component["device_class"] = sensor.device_class
    if sensor.unit is not None:
        component["unit_of_measurement"] = sensor.unit
    if sensor.state_class is not None:
        component["state_class"] = sensor.state_class
    if sensor.precision is not None:
        component["suggested_display_precision"] = sensor.precision
    if sensor.diagnostic:
        component["entity_category"] = "diagnostic"
    if sensor.icon is not None:
        component["icon"] = sensor.icon
    return component


def _output_component(info: BridgeInfo, device: DeviceSpec, output: OutputSpec) -> dict[str, Any]:
    component: dict[str, Any] = {
        "p": "switch",
        "unique_id": unique_id(info.id, device.id, output.id),
        "name": output.name,
        "state_topic": info.topics.state(device.id, output.id),
        "value_template": _ON_OFF,
        "command_topic": info.topics.output_set(device.id, output.id),
        "payload_on": "ON",
        "payload_off": "OFF",
        "optimistic": False,
    }
    if output.device_class is not None:
        component["device_class"] = output.device_class
    if output.icon is not None:
        component["icon"] = output.icon
    return component


def device_discovery(info: BridgeInfo, device: DeviceSpec) -> dict[str, Any]:
    """The retained payload for ``<discovery_prefix>/device/<object_id>/config``."""
    dev: dict[str, Any] = {
        "ids": [device_identifier(info.id, device.id)],
        "name": device.name,
        "mf": device.manufacturer,
        "mdl": device.model,
        "sw": info.version,
    }
    if device.id != BRIDGE_DEVICE_ID:
        dev["via_device"] = device_identifier(info.id, BRIDGE_DEVICE_ID)
    if device.suggested_area is not None:
        dev["sa"] = device.suggested_area
    components = {s.id: _sensor_component(info, device, s) for s in device.sensors}
    components |= {o.id: _output_component(info, device, o) for o in device.outputs}
    return {
        "dev": dev,
        "o": {"name": "iot-monitor", "sw": info.version, "url": ORIGIN_URL},
        "avty": [{"t": info.topics.availability}],
        "qos": 1,
        "cmps": components,
    }


def description(info: BridgeInfo, devices: list[DeviceSpec]) -> dict[str, JsonValue]:
    """The retained bridge description the integration reads (schema in docs/mqtt.md)."""
    topics = info.topics
    return {
        "schema": DESCRIPTION_SCHEMA,
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "topic_root": topics.topic_root,
        "discovery_prefix": topics.discovery_prefix,
        "topics": {
            "availability": topics.availability,
            "command": topics.command,
            "command_result": topics.command_result,
            "state": topics.state_wildcard,
        },
        "devices": [
            {
                "id": device.id,
                "name": device.name,
                "model": device.model,
                "identifier": device_identifier(info.id, device.id),
                "via": None
                if device.id == BRIDGE_DEVICE_ID
                else device_identifier(info.id, BRIDGE_DEVICE_ID),
                "sensors": [
                    {
                        "id": s.id,
                        "name": s.name,
                        "kind": s.kind.value,
                        "unit": s.unit,
                        "device_class": "enum" if s.kind is SensorKind.ENUM else s.device_class,
                        "state_class": s.state_class,
                        "options": list(s.options),
                        "precision": s.precision,
                        "diagnostic": s.diagnostic,
                        "topic": topics.state(device.id, s.id),
                    }
                    for s in device.sensors
                ],
                "outputs": [
                    {
                        "id": o.id,
                        "name": o.name,
                        "state_topic": topics.state(device.id, o.id),
                        "command_topic": topics.output_set(device.id, o.id),
                    }
                    for o in device.outputs
                ],
            }
            for device in devices
        ],
    }
