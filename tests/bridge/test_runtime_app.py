"""The app in-process: a failing driver is restarted, the bridge's own sensors, snapshots."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from iot_monitor_bridge.config import parse_config
from iot_monitor_bridge.drivers.base import Emit, FaultLog, SensorDriver
from iot_monitor_bridge.model import SensorSpec
from iot_monitor_bridge.runtime import app as app_module
from iot_monitor_bridge.runtime.app import BridgeApp
from iot_monitor_bridge.runtime.bridge_device import BROKER, SPOOL_DEPTH
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder

ROOT = "iot_monitor/app-test"


class FlakyDriver(SensorDriver):
    """Fails on its first run, works on the second."""

    def __init__(self) -> None:
        self.device_id = "garden"
        self.sensors = (SensorSpec("soil", "Soil moisture", unit="%"),)
        self.faults = FaultLog(logging.getLogger(__name__), "garden/soil")
        self.runs = 0
        self.closes = 0

    async def run(self, emit: Emit) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("the sensor bus went away")
        emit(self.reading("soil", 41.5))
        await asyncio.Event().wait()

    def close(self) -> None:
        self.closes += 1


async def _wait(recorder: Recorder, topic: str, what: str) -> list[Message]:
    return await asyncio.to_thread(
        recorder.wait_for, lambda ms: any(m.topic == topic for m in ms), 15.0, what
    )


async def test_a_failing_driver_is_restarted_and_the_bridge_reports_itself(
    tmp_path: Path,
    mosquitto: Mosquitto,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(app_module, "RESTART_DELAY_S", 0.05)
    config = parse_config(
        f"bridge: {{id: app-test}}\n"
        f"mqtt: {{brokers: [{{host: 127.0.0.1, port: {mosquitto.port}}}]}}\n"
        f"http: {{enabled: false}}\nzeroconf: {{enabled: false}}\n"
        f"health: {{interval: 0.2}}\nstate_dir: {tmp_path / 'state'}\n"
    )
    app = BridgeApp(config)
    flaky = FlakyDriver()
    app.sensor_drivers.append(flaky)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    try:
        messages = await _wait(
            recorder, f"{ROOT}/garden/soil/state", "the restarted driver's reading"
        )
        soil = next(m.json() for m in messages if m.topic == f"{ROOT}/garden/soil/state")
        readings = await asyncio.to_thread(
            recorder.wait_for_readings,
            lambda rs: any(r.seq == soil["seq"] for r in rs),
            15.0,
            "the soil reading on the stream",
        )
        on_stream = next(r for r in readings if r.seq == soil["seq"])
        assert (on_stream.device_id, on_stream.sensor_id, on_stream.value) == (
            "garden",
            "soil",
            41.5,
        )
        assert (on_stream.value, on_stream.ts_ms) == (soil["v"], soil["ts"])
        messages = await _wait(
            recorder, f"{ROOT}/bridge/{SPOOL_DEPTH.id}/state", "the bridge's spool depth"
        )
        broker = [m.json()["v"] for m in messages if m.topic == f"{ROOT}/bridge/{BROKER.id}/state"]
        assert set(broker) == {f"127.0.0.1:{mosquitto.port}"}
        assert (flaky.runs, flaky.closes) == (2, 1)
        assert "the sensor bus went away" in caplog.text

        snapshot = await asyncio.to_thread(app.snapshot)  # as the HTTP server asks for it
        assert snapshot.broker is not None
        assert snapshot.broker.connected
        assert snapshot.readings_total >= 2
        assert snapshot.devices == 0  # the bridge itself is not counted
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert flaky.closes == 2
    await asyncio.to_thread(
        recorder.wait_for,
        lambda ms: (
            [m.payload for m in ms if m.topic == f"{ROOT}/availability"][-1:] == [b"offline"]
        ),
        15.0,
        "offline",
    )
    assert (tmp_path / "state" / "spool.db").exists()
