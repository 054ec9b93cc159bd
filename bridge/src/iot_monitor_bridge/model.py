"""What the bridge knows about its devices, independent of how they are read or published.

Drivers describe their sensors and outputs with these specs; the protocol layer turns them
into Home Assistant discovery and the bridge description. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, TypeAlias

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

BRIDGE_DEVICE_ID: Final = "bridge"
"""Device id under which the bridge's own sensors (Pi health, broker in use) are published."""


class SensorKind(StrEnum):
    """How a sensor's value is shaped; decides the Home Assistant platform."""

    NUMERIC = "numeric"  # sensor with a unit; the integration computes statistics over it
    BINARY = "binary"  # binary_sensor, value is a bool
    ENUM = "enum"  # sensor with device_class enum and a fixed set of options
    TEXT = "text"  # free text sensor
    LOCATION = "location"  # device_tracker, value is {"latitude": .., "longitude": ..}


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One value a device reports."""

    id: str
    name: str
    kind: SensorKind = SensorKind.NUMERIC
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    options: tuple[str, ...] = ()
    precision: int | None = None
    diagnostic: bool = False
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One output Home Assistant can switch (relay, LED, buzzer)."""

    id: str
    name: str
    device_class: str | None = None  # Home Assistant switch device class: outlet or switch
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device as Home Assistant sees it: the bridge itself or one behind it."""

    id: str
    name: str
    model: str
    manufacturer: str = "iot-monitor"
    sensors: tuple[SensorSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    suggested_area: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One value at one event time. ``seq`` is assigned when the reading enters the spool."""

    device_id: str
    sensor_id: str
    value: JsonValue
    ts_ms: int
    seq: int = field(default=-1)
