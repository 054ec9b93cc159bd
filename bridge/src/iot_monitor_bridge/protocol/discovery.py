"""Home Assistant device-based MQTT discovery and the bridge description, from device specs.

Both are pure functions of the specs: the runtime publishes what they return, the
integration's tests feed what they return into Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from iot_monitor_bridge.contract.description import (
    BridgeDescription,
    DescriptionTopics,
    DeviceDescription,
    OutputDescription,
    SensorDescription,
    SensorKind,
)
from iot_monitor_bridge.contract.ids import (
    BRIDGE_DEVICE_ID,
    MANUFACTURER,
    device_identifier,
    unique_id,
)
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.model import DeviceSpec, OutputSpec, SensorSpec

ORIGIN_URL: Final = "https://github.com/iot-monitor/iot-monitor"
_ON_OFF: Final = "{{ 'ON' if value_json.v else 'OFF' }}"
_VALUE: Final = "{{ value_json.v }}"

_PLATFORM: Final = {
    SensorKind.NUMERIC: "sensor",
    SensorKind.ENUM: "sensor",
    SensorKind.TEXT: "sensor",
    SensorKind.BINARY: "binary_sensor",
    SensorKind.LOCATION: "device_tracker",
    SensorKind.EVENT: "event",
}


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """Who the bridge is and where it publishes."""

    id: str
    name: str
    version: str
    topics: Topics


def entity_name(sensor: SensorSpec) -> str | None:
    """Return the sensor's name, or ``None`` where it only repeats its device class.

    Home Assistant names such a sensor by its device class in the user's language
    ("Suhu" in Bahasa Indonesia), which an English name from the bridge would prevent.
    """
    device_class = sensor.device_class
    if device_class is not None and sensor.name.casefold() == device_class.replace("_", " "):
        return None
    return sensor.name


def _sensor_component(info: BridgeInfo, device: DeviceSpec, sensor: SensorSpec) -> dict[str, Any]:
    component: dict[str, Any] = {
        "p": _PLATFORM[sensor.kind],
        "unique_id": unique_id(info.id, device.id, sensor.id),
    }
    if (name := entity_name(sensor)) is not None:
        component["name"] = name
    state_topic = info.topics.state(device.id, sensor.id)
    if sensor.kind is SensorKind.LOCATION:
        component |= {
            "json_attributes_topic": state_topic,
            "json_attributes_template": "{{ value_json.v | tojson }}",
            "source_type": "gps",
        }
    elif sensor.kind is SensorKind.EVENT:
        component |= {
            "state_topic": state_topic,
            "value_template": "{{ value_json.v | tojson }}",
            "event_types": list(sensor.options),
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
        "o": {"name": MANUFACTURER, "sw": info.version, "url": ORIGIN_URL},
        "avty": [{"t": info.topics.availability}],
        "qos": 1,
        "cmps": components,
    }


def description(info: BridgeInfo, devices: list[DeviceSpec]) -> BridgeDescription:
    """Return the retained bridge description the integration reads (docs/mqtt.md)."""
    topics = info.topics
    return BridgeDescription(
        id=info.id,
        name=info.name,
        version=info.version,
        topic_root=topics.topic_root,
        discovery_prefix=topics.discovery_prefix,
        topics=DescriptionTopics(
            availability=topics.availability,
            stream=topics.stream,
            command=topics.command,
            command_result=topics.command_result,
        ),
        devices=tuple(
            DeviceDescription(
                id=device.id,
                name=device.name,
                model=device.model,
                identifier=device_identifier(info.id, device.id),
                sensors=tuple(
                    SensorDescription(
                        id=s.id,
                        name=entity_name(s),
                        kind=s.kind,
                        unit=s.unit,
                        device_class="enum" if s.kind is SensorKind.ENUM else s.device_class,
                        state_class=s.state_class,
                        options=s.options,
                        precision=s.precision,
                        diagnostic=s.diagnostic,
                        statistics=s.statistics,
                    )
                    for s in device.sensors
                ),
                outputs=tuple(OutputDescription(id=o.id, name=o.name) for o in device.outputs),
            )
            for device in devices
        ),
    )
