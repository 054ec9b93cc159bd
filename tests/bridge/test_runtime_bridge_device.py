"""The bridge's own device: its sensors and the diagnostic readings made from a snapshot."""

from __future__ import annotations

import pytest

from iot_monitor_bridge.model import BRIDGE_DEVICE_ID, SensorKind, SensorSpec
from iot_monitor_bridge.runtime.bridge_device import (
    BROKER,
    DIAGNOSTIC_SENSORS,
    SPOOL_DEPTH,
    SPOOL_DROPPED,
    SPOOL_OLDEST_AGE,
    UPTIME,
    bridge_device,
    diagnostic_readings,
)
from iot_monitor_bridge.runtime.status import BridgeSnapshot, BrokerStatus

CPU = SensorSpec("cpu_usage", "CPU usage", unit="%", diagnostic=True)


def _snapshot(broker: BrokerStatus | None, oldest: float | None = 12.345) -> BridgeSnapshot:
    return BridgeSnapshot(
        bridge_id="lab",
        version="1",
        uptime_s=3600.6,
        broker=broker,
        failovers=0,
        readings_total=10,
        published_total=8,
        spool_depth=2,
        spool_dropped=5,
        spool_oldest_age_s=oldest,
        devices=1,
    )


def test_bridge_device_has_health_then_diagnostic_sensors() -> None:
    device = bridge_device("Lab Pi", [CPU])
    assert (device.id, device.name) == (BRIDGE_DEVICE_ID, "Lab Pi")
    assert device.sensors == (CPU, *DIAGNOSTIC_SENSORS)
    assert all(sensor.diagnostic for sensor in DIAGNOSTIC_SENSORS)
    assert BROKER.kind is SensorKind.TEXT
    assert (SPOOL_DROPPED.state_class, SPOOL_OLDEST_AGE.device_class) == (
        "total_increasing",
        "duration",
    )


def test_uptime_is_the_bridges_as_a_duration() -> None:
    """The bridge's own uptime (the machine's is the health sensor ``host_uptime``)."""
    assert (UPTIME.id, UPTIME.name) == ("uptime", "Uptime")
    assert (UPTIME.kind, UPTIME.unit, UPTIME.device_class) == (SensorKind.NUMERIC, "s", "duration")
    assert UPTIME.state_class is None  # no statistics of a sawtooth
    assert UPTIME.precision == 0
    assert UPTIME in DIAGNOSTIC_SENSORS
    assert [s.id for s in bridge_device("Lab Pi", [CPU]).sensors].count("uptime") == 1


def test_health_sensor_ids_may_not_clash_with_the_bridges_own() -> None:
    with pytest.raises(ValueError, match="spool_depth"):
        bridge_device("Lab Pi", [SensorSpec("spool_depth", "Spool depth")])
    with pytest.raises(ValueError, match="uptime"):
        bridge_device("Lab Pi", [SensorSpec("uptime", "Uptime")])


def test_diagnostic_readings_while_connected() -> None:
    readings = diagnostic_readings(_snapshot(BrokerStatus("10.0.0.2", 1884, True, 1)), 1000)
    assert {(r.sensor_id, r.value) for r in readings} == {
        (UPTIME.id, 3601),  # the bridge's uptime_s, as /health has it, in whole seconds
        (BROKER.id, "10.0.0.2:1884"),
        (SPOOL_DEPTH.id, 2),
        (SPOOL_DROPPED.id, 5),
        (SPOOL_OLDEST_AGE.id, 12.3),
    }
    assert {(r.device_id, r.ts_ms) for r in readings} == {(BRIDGE_DEVICE_ID, 1000)}


@pytest.mark.parametrize("broker", [None, BrokerStatus("10.0.0.2", 1883, False, 0)])
def test_no_broker_reading_while_not_connected(broker: BrokerStatus | None) -> None:
    readings = diagnostic_readings(_snapshot(broker, oldest=None), 1000)
    assert BROKER.id not in {r.sensor_id for r in readings}
    assert {r.sensor_id: r.value for r in readings}[SPOOL_OLDEST_AGE.id] == 0.0  # empty spool
