"""What the bridge knows about its devices, independent of how they are read or published.

Drivers describe their sensors and outputs with these specs; the protocol layer turns them
into Home Assistant discovery and the bridge description. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from iot_monitor_bridge.contract.description import SensorKind
from iot_monitor_bridge.contract.ids import BRIDGE_DEVICE_ID
from iot_monitor_bridge.contract.readings import Reading

__all__ = [
    "BRIDGE_DEVICE_ID",
    "DeviceSpec",
    "JsonValue",
    "OutputSpec",
    "Reading",
    "SensorKind",
    "SensorSpec",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


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
    statistics: bool = True
    """``False``: Home Assistant keeps no rolling statistics of it (bookkeeping, not a
    measured process)."""


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
