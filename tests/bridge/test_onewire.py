"""The DS18B20 driver against a fake sysfs tree: readings in °C, faults counted, recovery."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from iot_monitor_bridge.config import Ds18b20Config
from iot_monitor_bridge.drivers.onewire import Ds18b20Driver
from iot_monitor_bridge.model import SensorSpec
from tests.bridge.test_parsers_w1 import w1_slave
from tests.support.drivers import next_reading, reading_matching, record_faults, running

ADDRESS = "28-0316a2794bff"


def put(root: Path, text: str) -> None:
    """Replace the device's w1_slave atomically, as the kernel presents a whole file."""
    device = root / ADDRESS
    device.mkdir(exist_ok=True)
    staged = device / "w1_slave.new"
    staged.write_text(text)
    os.replace(staged, device / "w1_slave")


def driver_for(root: Path) -> Ds18b20Driver:
    cfg = Ds18b20Config(id="water", address=ADDRESS, interval=0.02, w1_root=root)
    return Ds18b20Driver("tank", cfg)


def test_sensor_spec_without_touching_hardware(tmp_path: Path) -> None:
    assert driver_for(tmp_path / "absent").sensors == (
        SensorSpec(
            "water",
            "Water",
            unit="°C",
            device_class="temperature",
            state_class="measurement",
            precision=1,
        ),
    )


async def test_readings_in_celsius_and_bad_reads_skipped(tmp_path: Path) -> None:
    put(tmp_path, w1_slave(21562))
    driver = driver_for(tmp_path)
    faults = record_faults(driver)
    async with running(driver) as readings:
        first = await next_reading(readings)
        assert (first.device_id, first.sensor_id, first.value) == ("tank", "water", 21.562)
        put(tmp_path, w1_slave(30000, "NO"))
        await faults.wait_for("crc_failure")
        put(tmp_path, w1_slave(85000))
        await faults.wait_for("power_on_reset")
        put(tmp_path, w1_slave(-1250))
        _, skipped = await reading_matching(readings, lambda r: r.value == -1.25)
        assert {r.value for r in skipped} <= {21.562}  # nothing from the rejected files


def w1_slave_is_a_directory(root: Path) -> None:
    (root / ADDRESS / "w1_slave").mkdir(parents=True)  # reading it fails with EISDIR


@pytest.mark.parametrize(
    ("setup", "kind"),
    [
        (lambda root: None, "missing_device"),
        (lambda root: put(root, w1_slave(23125, "NO")), "crc_failure"),
        (lambda root: put(root, w1_slave(85000)), "power_on_reset"),
        (lambda root: put(root, "\x00\x00"), "garbled"),
        (w1_slave_is_a_directory, "read_error"),
    ],
    ids=["missing", "crc", "power-on-reset", "garbled", "unreadable"],
)
async def test_fault_kinds_and_recovery(
    tmp_path: Path, setup: Callable[[Path], None], kind: str
) -> None:
    setup(tmp_path)
    driver = driver_for(tmp_path)
    faults = record_faults(driver)
    async with running(driver) as readings:
        await faults.wait_for(kind, 2)  # counted on every attempt, and run() goes on
        assert readings.empty()
        assert set(faults.counts) == {kind}
        shutil.rmtree(tmp_path / ADDRESS, ignore_errors=True)
        put(tmp_path, w1_slave(19000))  # the device is back, or reads cleanly again
        assert (await next_reading(readings)).value == 19.0
