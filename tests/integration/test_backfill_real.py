"""A real network cut: the hour it falls in is held, complete and queued for the recorder.

A real Mosquitto, the real bridge process (a simulated device at 4 readings/s) reaching it
through a TCP proxy, Home Assistant's MQTT integration over TCP and its recorder. The proxy
is cut for 65 s, more than the minute after which a reading counts as replayed; the bridge
spools and replays on return. A client on the broker itself records every reading that
crossed the wire: the integration's hours must hold exactly those, each once.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_monitor.backfill import HOUR_MS
from tests.integration.bridge_entry import add_bridge_entry, async_setup_real_mqtt, coordinator_of
from tests.support.bridge_fleet import FleetBridge
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import MOSQUITTO, Mosquitto
from tests.support.mqtt_client import Recorder as WireRecorder
from tests.support.mqtt_client import first_copies
from tests.support.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed"),
    pytest.mark.slow,
]

BRIDGE = FleetBridge(bridge_id="gap-pi", name="Gap Pi", count=1)
CUT_S = 65.0
"""Longer than ``REPLAYED_AFTER_MS``: the first readings of the cut arrive as a replay."""


@pytest.fixture
def proxy(mosquitto: Mosquitto) -> Iterator[TcpProxy]:
    """The network between the bridge and the broker."""
    proxy = TcpProxy(mosquitto.host, mosquitto.port).start()
    yield proxy
    proxy.close()


@pytest.fixture
def bridge_process(
    mosquitto: Mosquitto, proxy: TcpProxy, tmp_path: Path
) -> Iterator[BridgeProcess]:
    process = BridgeProcess(
        tmp_path / "bridge",
        [mosquitto],
        [{"id": "fleet", "simulate": {"count": BRIDGE.count, "rate_hz": 4, "seed": 11}}],
        bridge={"id": BRIDGE.bridge_id, "name": BRIDGE.name},
        mqtt={"brokers": [{"host": proxy.host, "port": proxy.port}], "failover_after": 1},
    ).start()
    yield process
    process.stop()
    process.close()


@pytest.fixture
def wire(mosquitto: Mosquitto) -> Iterator[WireRecorder]:
    """A client on the broker itself: every reading that crossed the wire."""
    recorder = WireRecorder(mosquitto.port, BRIDGE.topics.stream)
    yield recorder
    recorder.close()


async def _until(hass: HomeAssistant, condition: Callable[[], bool], what: str) -> None:
    """Wait, stream message by stream message, until ``condition`` holds."""
    arrived = asyncio.Event()

    @callback
    def stream_message(_msg: mqtt.ReceiveMessage) -> None:
        arrived.set()

    unsubscribe = await mqtt.async_subscribe(
        hass, BRIDGE.topics.stream, stream_message, 1, encoding=None
    )
    try:
        async with asyncio.timeout(120):
            while not condition():
                arrived.clear()
                await arrived.wait()
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")
    finally:
        unsubscribe()


@pytest.mark.usefixtures("mock_hass_config", "bridge_process")
async def test_a_network_cut_queues_its_hour_for_import(
    recorder_mock: object,
    hass: HomeAssistant,
    mosquitto: Mosquitto,
    proxy: TcpProxy,
    wire: WireRecorder,
) -> None:
    mqtt_entry = await async_setup_real_mqtt(hass, mosquitto)
    entry: MockConfigEntry = add_bridge_entry(hass, BRIDGE)
    assert await hass.config_entries.async_setup(entry.entry_id)
    coordinator = coordinator_of(entry)
    held = coordinator.history.history
    await _until(hass, lambda: coordinator.readings_received >= 100, "the first readings")

    proxy.cut()
    cut_ms = int(dt_util.utcnow().timestamp() * 1000)
    await asyncio.sleep(CUT_S)  # the outage itself: the bridge spools meanwhile
    proxy.start()
    back_ms = int(dt_util.utcnow().timestamp() * 1000)

    def caught_up() -> bool:
        """The integration has every reading up to one taken after the return."""
        live = [r for r in wire.stream_readings() if r.ts_ms > back_ms + 1000]
        return bool(live) and held.seqs.runs[-1][1] >= live[0].seq

    await _until(hass, caught_up, "the replay and live readings after it")

    assert len(held.seqs.runs) == 1, "a reading was lost"
    first_seq, last_seq = held.seqs.runs[0]
    truth = [
        r
        for r in first_copies(wire.stream_readings())
        if first_seq <= r.seq <= last_seq
        and (r.device_id, r.sensor_id) == ("fleet_1", "temperature")
    ]
    hours = {r.ts_ms - r.ts_ms % HOUR_MS for r in truth}
    for hour in hours:
        values = [r.value for r in truth if r.ts_ms - r.ts_ms % HOUR_MS == hour]
        aggregate = held.hours[("fleet_1/temperature", hour)]
        assert aggregate.count == len(values)
        assert math.isclose(aggregate.mean, math.fsum(values) / len(values), rel_tol=1e-12)
        assert (aggregate.min, aggregate.max) == (min(values), max(values))
    # The recorder has compiled none of them yet: all wait, the cut's among them.
    assert {("fleet_1/temperature", hour) for hour in hours} <= held.dirty
    replayed = [r for r in truth if cut_ms <= r.ts_ms < back_ms - 60_000]
    assert replayed, "the cut was too short to replay anything"
    counted = sum(held.hours[("fleet_1/temperature", hour)].replayed for hour in hours)
    assert counted >= len(replayed)

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()
