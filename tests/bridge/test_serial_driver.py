"""The serial driver end to end through real ptys.

Values, faults, polling, and a port that disappears and comes back while ``run`` keeps going.
Tests that need the port open stream a first frame until it comes out (pyserial discards input
that arrived before it opened the port, possibly mid-frame), and count faults from there on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.config import FieldConfig, SerialConfig, validate
from iot_monitor_bridge.drivers.serial import Backoff, SerialDriver
from iot_monitor_bridge.model import Reading, SensorSpec
from tests.support.drivers import next_reading, reading_matching, record_faults, running
from tests.support.fake_serial import (
    MHZ19B_READ_COMMAND,
    FakeSerialDevice,
    sds011_frame,
)

FAST = {"retry_initial": 0.02, "retry_max": 0.1}
"""Retry delays short enough for tests; the defaults are 1 s doubling to 30 s."""


@pytest.fixture
def device() -> Iterator[FakeSerialDevice]:
    fake = FakeSerialDevice()
    yield fake
    fake.close()


def serial_config(protocol: str, port: str, **extra: Any) -> SerialConfig:
    return validate(
        {"id": "air", "type": "serial", "protocol": protocol, "port": port, **extra}, SerialConfig
    )


def values(readings: list[Reading]) -> dict[str, object]:
    return {reading.sensor_id: reading.value for reading in readings}


async def next_frame(readings: asyncio.Queue[Reading], count: int) -> list[Reading]:
    return [await next_reading(readings) for _ in range(count)]


def test_sensors_per_protocol_without_touching_hardware() -> None:
    sds011 = SerialDriver("hall", serial_config("sds011", "/dev/does-not-exist"))
    assert sds011.sensors == (
        SensorSpec(
            "air_pm25",
            "Air PM2.5",
            unit="µg/m³",
            device_class="pm25",
            state_class="measurement",
            precision=1,
        ),
        SensorSpec(
            "air_pm10",
            "Air PM10",
            unit="µg/m³",
            device_class="pm10",
            state_class="measurement",
            precision=1,
        ),
    )
    mhz19b = SerialDriver("hall", serial_config("mhz19b", "/dev/does-not-exist", name="CO2"))
    assert mhz19b.sensors == (
        SensorSpec(
            "air",
            "CO2",
            unit="ppm",
            device_class="carbon_dioxide",
            state_class="measurement",
            precision=0,
        ),
    )
    lines = SerialDriver(
        "hall",
        serial_config(
            "key_value",
            "/dev/does-not-exist",
            fields={
                "temp": {"name": "Temperature", "unit": "°C", "device_class": "temperature"},
                "raw_light": {},
            },
        ),
    )
    assert lines.sensors == (
        SensorSpec(
            "air_temp",
            "Temperature",
            unit="°C",
            device_class="temperature",
            state_class="measurement",
        ),
        SensorSpec("air_raw_light", "Air raw light", state_class="measurement"),
    )
    assert sds011.faults.counts == mhz19b.faults.counts == lines.faults.counts == {}


async def test_sds011_values_and_corrupt_frames_skipped(device: FakeSerialDevice) -> None:
    driver = SerialDriver("hall", serial_config("sds011", device.path), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        device.stream(sds011_frame(1.0, 2.0))  # until the port is open: earlier input is discarded
        first = await next_reading(readings)
        assert first.device_id == "hall"
        assert first.ts_ms > 0
        device.stop_streaming()
        before = faults.counts.copy()
        device.write(
            sds011_frame(66.6, 77.7, bad_checksum=True)
            + b"\x00garbage\x13"
            + sds011_frame(12.3, 45.6)[:5]  # a frame cut short by lost bytes
            + sds011_frame(12.3, 45.6)
        )
        _, skipped = await reading_matching(readings, lambda r: r.value == 12.3)
        assert {r.value for r in skipped} <= {1.0, 2.0}
        assert (await next_reading(readings)).value == 45.6
        assert faults.counts["bad_checksum"] - before["bad_checksum"] == 1
        assert faults.counts["garbage"] > before["garbage"]


async def test_silence_is_a_timeout_fault_and_data_ends_it(device: FakeSerialDevice) -> None:
    driver = SerialDriver("hall", serial_config("sds011", device.path, interval=0.1), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        await faults.wait_for("timeout", 2)
        assert readings.empty()
        device.stream(sds011_frame(3.3, 4.4))
        assert values(await next_frame(readings, 2)) == {"air_pm25": 3.3, "air_pm10": 4.4}


async def test_mhz19b_is_polled_every_interval(device: FakeSerialDevice) -> None:
    device.co2_ppm = 612
    driver = SerialDriver("hall", serial_config("mhz19b", device.path, interval=0.25), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        first = await next_reading(readings)
        assert (first.sensor_id, first.value) == ("air", 612.0)
        device.co2_ppm = 1500
        await reading_matching(readings, lambda r: r.value == 1500.0)
        commands = await asyncio.to_thread(device.wait_for_commands, 3)
        assert set(commands) == {MHZ19B_READ_COMMAND}
        assert faults.counts["timeout"] == 0


async def test_mhz19b_bad_answers_and_no_answers_are_faults(device: FakeSerialDevice) -> None:
    device.co2_ppm = 900
    device.corrupt_answers = True
    driver = SerialDriver("hall", serial_config("mhz19b", device.path, interval=0.1), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        await faults.wait_for("bad_checksum", 2)
        device.co2_ppm = None  # stops answering
        await faults.wait_for("timeout", 2)
        assert readings.empty()
        device.corrupt_answers = False
        device.co2_ppm = 901
        assert (await next_reading(readings)).value == 901.0


async def test_json_lines_scaled_and_faults_counted(device: FakeSerialDevice) -> None:
    fields = {"temp": {"scale": 0.1}, "hum": {"offset": -2.0}}
    driver = SerialDriver("hall", serial_config("json_lines", device.path, fields=fields), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        device.stream(b'{"temp": 0, "hum": 0}\n')
        await next_reading(readings)
        device.stop_streaming()
        before = faults.counts.copy()
        device.write(
            b'{"temp": "hot", "hum": 50}\n'
            + b"not json\n"
            + b"x" * 3000
            + b'\n{"temp": 215, "hum": 42}\n'
        )
        await reading_matching(readings, lambda r: r.sensor_id == "air_hum" and r.value == 48.0)
        temp = await next_reading(readings)
        assert temp.sensor_id == "air_temp"
        assert temp.value == pytest.approx(21.5)
        assert values([await next_reading(readings)]) == {"air_hum": 40.0}
        new_faults = faults.counts - before
        assert new_faults == {"not_numeric": 1, "not_json": 1, "overlong_line": 1}


async def test_key_value_lines(device: FakeSerialDevice) -> None:
    fields = {"temp": FieldConfig(), "hum": FieldConfig()}
    driver = SerialDriver(
        "hall", serial_config("key_value", device.path, fields=fields, baudrate=115200), **FAST
    )
    faults = record_faults(driver)
    async with running(driver) as readings:
        device.stream(b"temp=20.5,hum=41\r\n")
        assert values(await next_frame(readings, 2)) == {"air_temp": 20.5, "air_hum": 41.0}
        device.stop_streaming()
        missing = faults.counts["missing_value"]
        device.write(b"temp=19 boot=1\r\n")
        await faults.wait_for("missing_value", missing + 1)
        reading, _ = await reading_matching(readings, lambda r: r.value == 19.0)
        assert reading.sensor_id == "air_temp"


async def test_port_that_disappears_is_reopened_while_run_goes_on(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB0"
    first = FakeSerialDevice()
    link.symlink_to(first.path)
    driver = SerialDriver("hall", serial_config("sds011", str(link)), **FAST)
    try:
        faults = record_faults(driver)
        async with running(driver) as readings:
            first.stream(sds011_frame(10.0, 20.0))
            await next_reading(readings)
            link.unlink()
            first.close()  # unplugged: the open port fails, and the path is gone
            await faults.wait_for("port_lost")
            await faults.wait_for("port_unavailable", 3)  # retried, with backoff
            second = FakeSerialDevice()
            try:
                second.stream(sds011_frame(30.0, 40.0))
                link.symlink_to(second.path)  # plugged back in
                reading, _ = await reading_matching(readings, lambda r: r.value == 30.0)
                assert reading.sensor_id == "air_pm25"
            finally:
                second.close()
    finally:
        first.close()


async def test_missing_port_is_retried_not_fatal() -> None:
    driver = SerialDriver("hall", serial_config("sds011", "/dev/does-not-exist"), **FAST)
    faults = record_faults(driver)
    async with running(driver) as readings:
        await faults.wait_for("port_unavailable", 3)
        assert readings.empty()


def open_count(path: str) -> int:
    """How many of this process's file descriptors refer to ``path``."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == os.path.realpath(path))


async def test_cancel_interrupts_a_blocking_read_and_close_releases_the_port(
    device: FakeSerialDevice,
) -> None:
    config = serial_config("sds011", device.path, interval=600)
    driver = SerialDriver("hall", config, read_timeout=30, **FAST)
    loop = asyncio.get_running_loop()
    async with running(driver) as readings:
        device.stream(sds011_frame(1.0, 1.0))
        await next_reading(readings)
        device.stop_streaming()
        assert open_count(device.path) == 2  # the fake's own end and the driver's
        cancelled_at = loop.time()
    assert loop.time() - cancelled_at < 5  # not the 30 s read timeout
    assert open_count(device.path) == 1


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff(1.0, 30.0)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1.0
