"""The bridge as a Home Assistant device: machine health plus how the bridge itself is doing.

The health sensors come from the ``HealthDriver``; the diagnostic sensors here are made
from a ``BridgeSnapshot`` (the same view /health and /metrics use), so the three never
disagree. All of them are published under the reserved device id ``bridge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from iot_monitor_bridge.model import (
    BRIDGE_DEVICE_ID,
    DeviceSpec,
    Reading,
    SensorKind,
    SensorSpec,
)
from iot_monitor_bridge.runtime.status import BridgeSnapshot, BrokerStatus

MODEL: Final = "iot-monitor bridge"

UPTIME: Final = SensorSpec(
    "uptime",
    "Uptime",
    unit="s",
    device_class="duration",
    state_class=None,
    precision=0,
    diagnostic=True,
)
"""Seconds since the bridge started (``uptime_s`` in /health): the bridge's, not the
machine's (that is the health sensor ``host_uptime``). No state class, as for the host's:
statistics of an uptime mean nothing."""
BROKER: Final = SensorSpec(
    "broker",
    "Broker",
    kind=SensorKind.TEXT,
    diagnostic=True,
    icon="mdi:server-network",
)
"""``host:port`` of the broker in use (the brief's ``broker_used``)."""
SPOOL_DEPTH: Final = SensorSpec(
    "spool_depth",
    "Spool depth",
    unit="readings",
    state_class="measurement",
    diagnostic=True,
    icon="mdi:tray-full",
)
SPOOL_DROPPED: Final = SensorSpec(
    "spool_dropped",
    "Spool dropped",
    unit="readings",
    state_class="total_increasing",
    diagnostic=True,
    icon="mdi:tray-remove",
)
SPOOL_OLDEST_AGE: Final = SensorSpec(
    "spool_oldest_age",
    "Spool oldest age",
    unit="s",
    device_class="duration",
    state_class="measurement",
    precision=0,
    diagnostic=True,
)
DIAGNOSTIC_SENSORS: Final = (UPTIME, BROKER, SPOOL_DEPTH, SPOOL_DROPPED, SPOOL_OLDEST_AGE)


def bridge_device(name: str, health_sensors: Sequence[SensorSpec]) -> DeviceSpec:
    """The bridge's own device: its health sensors, then its diagnostic sensors."""
    ids = [sensor.id for sensor in health_sensors]
    clash = set(ids) & {sensor.id for sensor in DIAGNOSTIC_SENSORS}
    if clash:
        raise ValueError(f"health sensor ids clash with the bridge's own: {sorted(clash)}")
    return DeviceSpec(
        id=BRIDGE_DEVICE_ID,
        name=name,
        model=MODEL,
        sensors=(*health_sensors, *DIAGNOSTIC_SENSORS),
    )


def broker_reading(broker: BrokerStatus | None, ts_ms: int) -> Reading | None:
    """``host:port`` of the connected broker; ``None`` while not connected.

    While not connected there is nothing to say that could reach Home Assistant anyway.
    """
    if broker is None or not broker.connected:
        return None
    return Reading(BRIDGE_DEVICE_ID, BROKER.id, f"{broker.host}:{broker.port}", ts_ms)


def diagnostic_readings(snapshot: BridgeSnapshot, ts_ms: int) -> list[Reading]:
    """The diagnostic sensors' values from one snapshot, all with the same event time."""
    readings = [
        Reading(BRIDGE_DEVICE_ID, UPTIME.id, round(snapshot.uptime_s), ts_ms),
        Reading(BRIDGE_DEVICE_ID, SPOOL_DEPTH.id, snapshot.spool_depth, ts_ms),
        Reading(BRIDGE_DEVICE_ID, SPOOL_DROPPED.id, snapshot.spool_dropped, ts_ms),
        Reading(
            BRIDGE_DEVICE_ID,
            SPOOL_OLDEST_AGE.id,
            round(snapshot.spool_oldest_age_s or 0.0, 1),
            ts_ms,
        ),
    ]
    broker = broker_reading(snapshot.broker, ts_ms)
    return readings if broker is None else [broker, *readings]
