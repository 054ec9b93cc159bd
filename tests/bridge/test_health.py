"""Pi health sensors: real values from this machine, fake sysfs for the thermal zone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import pytest

from iot_monitor_bridge.config import HealthConfig
from iot_monitor_bridge.drivers.health import (
    THERMAL_ZONE,
    HealthDriver,
    cpu_busy_fraction,
    cpu_temperature_reader,
    read_psutil_cpu_temperature,
    read_thermal_zone,
)
from iot_monitor_bridge.model import BRIDGE_DEVICE_ID, JsonValue, Reading, SensorKind
from tests.support.drivers import next_reading, record_faults, running

ALWAYS = {"cpu_usage", "load_1m", "memory_free", "disk_free", "host_uptime"}


class Temperature(NamedTuple):
    """The shape of psutil's sensors_temperatures() entries."""

    label: str
    current: float
    high: float | None
    critical: float | None


@pytest.fixture
def no_psutil_temperatures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose hwmon has no CPU sensor, whatever this one has."""
    monkeypatch.setattr(psutil, "sensors_temperatures", dict)


def _zone(root: Path, millidegrees: str) -> Path:
    zone = root / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text(millidegrees)
    return zone


async def _until_all_seen(
    queue: asyncio.Queue[Reading], sensor_ids: set[str]
) -> dict[str, JsonValue]:
    latest: dict[str, JsonValue] = {}
    while not sensor_ids <= latest.keys():
        reading = await next_reading(queue)
        assert reading.device_id == BRIDGE_DEVICE_ID
        latest[reading.sensor_id] = reading.value
    return latest


def test_sensors_are_diagnostics_with_home_assistant_classes(tmp_path: Path) -> None:
    driver = HealthDriver(HealthConfig(disk_path=tmp_path))
    specs = {spec.id: spec for spec in driver.sensors}
    assert driver.device_id == BRIDGE_DEVICE_ID
    assert all(spec.diagnostic and spec.kind is SensorKind.NUMERIC for spec in specs.values())
    shapes = {
        sensor_id: (spec.unit, spec.device_class, spec.state_class)
        for sensor_id, spec in specs.items()
    }
    assert shapes["cpu_usage"] == ("%", None, "measurement")
    assert shapes["load_1m"] == (None, None, "measurement")
    assert shapes["memory_free"] == ("MiB", "data_size", "measurement")
    assert shapes["disk_free"] == ("%", None, "measurement")
    assert shapes["host_uptime"] == ("s", "duration", None)
    assert specs["host_uptime"].name == "Host uptime"
    # ``uptime`` is the bridge's own (runtime/bridge_device.py), not the machine's.
    assert "uptime" not in specs
    if "cpu_temperature" in shapes:
        assert shapes["cpu_temperature"] == ("°C", "temperature", "measurement")


async def test_this_machine_reports_every_sensor_it_has(tmp_path: Path) -> None:
    has_temperature = cpu_temperature_reader(THERMAL_ZONE) is not None
    expected = ALWAYS | ({"cpu_temperature"} if has_temperature else set())
    driver = HealthDriver(HealthConfig(interval=0.05, disk_path=tmp_path))
    assert {spec.id for spec in driver.sensors} == expected
    async with running(driver) as queue:
        values = await _until_all_seen(queue, expected)
        assert values.keys() == expected
    memory_mib = psutil.virtual_memory().total / 2**20
    assert 0.0 <= values["cpu_usage"] <= 100.0  # type: ignore[operator]
    assert values["load_1m"] >= 0.0  # type: ignore[operator]
    assert 0 < values["memory_free"] <= memory_mib  # type: ignore[operator]
    assert 0.0 <= values["disk_free"] <= 100.0  # type: ignore[operator]
    assert isinstance(values["host_uptime"], int)
    # The machine's uptime: since boot, so at least as long as this test process has run.
    since_boot = time.time() - psutil.boot_time()
    assert since_boot - 2 <= values["host_uptime"] <= since_boot + 2
    assert values["host_uptime"] >= time.time() - psutil.Process().create_time() - 2
    if has_temperature:
        assert -20.0 < values["cpu_temperature"] < 120.0  # type: ignore[operator]
    assert not driver.faults.counts


@pytest.mark.usefixtures("no_psutil_temperatures")
async def test_thermal_zone_is_read_and_a_lost_file_is_a_fault(tmp_path: Path) -> None:
    zone = _zone(tmp_path / "thermal", "47312\n")
    driver = HealthDriver(HealthConfig(interval=0.05, disk_path=tmp_path), thermal_zone=zone)
    assert "cpu_temperature" in {spec.id for spec in driver.sensors}
    faults = record_faults(driver)
    async with running(driver) as queue:
        values = await _until_all_seen(queue, ALWAYS | {"cpu_temperature"})
        assert values["cpu_temperature"] == 47.3
        (zone / "temp").unlink()
        await faults.wait_for("cpu_temperature_unreadable")
        # The other sensors keep reporting.
        await _until_all_seen(queue, {"host_uptime", "memory_free"})


@pytest.mark.usefixtures("no_psutil_temperatures")
def test_no_temperature_sensor_is_not_declared(tmp_path: Path) -> None:
    driver = HealthDriver(HealthConfig(disk_path=tmp_path), thermal_zone=tmp_path / "none")
    assert {spec.id for spec in driver.sensors} == ALWAYS


def test_missing_disk_path_is_not_declared(tmp_path: Path) -> None:
    driver = HealthDriver(HealthConfig(disk_path=tmp_path / "not-mounted"))
    assert "disk_free" not in {spec.id for spec in driver.sensors}


def test_thermal_zone_file_in_millidegrees(tmp_path: Path) -> None:
    assert read_thermal_zone(_zone(tmp_path, "-5250\n")) == -5.25


@pytest.mark.parametrize("content", ["", "hot\n", "4.7e4\n"])
def test_garbage_in_a_thermal_zone_raises_value_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - int() says no more than that
        read_thermal_zone(_zone(tmp_path, content))


def test_psutil_cpu_sensor_is_preferred_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    sensors: dict[str, Any] = {
        "acpitz": [Temperature("", 27.8, None, None)],  # the board, not the CPU
        "coretemp": [Temperature("Package id 0", 55.0, 80.0, 100.0)],
    }
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: sensors)
    assert read_psutil_cpu_temperature() == 55.0
    del sensors["coretemp"]
    with pytest.raises(LookupError):
        read_psutil_cpu_temperature()


def test_cpu_busy_fraction() -> None:
    assert cpu_busy_fraction((10.0, 100.0), (30.0, 200.0)) == pytest.approx(0.2)
    assert cpu_busy_fraction((10.0, 100.0), (10.0, 100.0)) is None  # no time passed
    assert cpu_busy_fraction((10.0, 100.0), (300.0, 200.0)) == 1.0  # counters glitched
