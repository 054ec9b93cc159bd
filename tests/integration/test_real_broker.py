"""End to end: a real Mosquitto, the real bridge process, Home Assistant's MQTT integration.

No mocked MQTT here: Home Assistant's MQTT integration connects to the broker over TCP,
creates the bridge's devices from its discovery, and this integration's statistics follow
the simulated fleet's readings as they arrive on the bridge's stream.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from homeassistant.const import EVENT_STATE_CHANGED, STATE_ON
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from custom_components.iot_monitor.const import (
    CONF_LATENESS,
    CONF_THROTTLE,
    CONF_WINDOW_LENGTH,
    DOMAIN,
    STAT_MEAN,
)
from custom_components.iot_monitor.coordinator import statistic_unique_id
from tests.integration.bridge_entry import (
    add_bridge_entry,
    async_setup_real_mqtt,
    bridge_entity_id,
    coordinator_of,
    mqtt_device,
    raw_entity_id,
    state_of,
)
from tests.support.bridge_fleet import FleetBridge
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed")

BRIDGE = FleetBridge(bridge_id="real-pi", name="Real Pi", count=2)
TIMEOUT_S = 30.0


@pytest.fixture
def bridge_process(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[BridgeProcess]:
    process = BridgeProcess(
        tmp_path / "bridge",
        [mosquitto],
        [{"id": "fleet", "simulate": {"count": BRIDGE.count, "rate_hz": 4, "seed": 3}}],
        bridge={"id": BRIDGE.bridge_id, "name": BRIDGE.name},
        health={"interval": 1},
    ).start()
    yield process
    process.stop()  # asserts the clean exit (0)
    process.close()  # and no traceback logged


async def async_wait_until(hass: HomeAssistant, condition: Callable[[], object], what: str) -> None:
    """Re-check ``condition`` whenever a state changes, until it holds."""
    changed = asyncio.Event()

    @callback
    def state_changed(_event: Event) -> None:
        changed.set()

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, state_changed)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while not condition():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        unsubscribe()


def number(hass: HomeAssistant, entity_id: str | None) -> float | None:
    state = hass.states.get(entity_id) if entity_id else None
    try:
        return float(state.state) if state else None
    except ValueError:
        return None


@pytest.mark.usefixtures("mock_hass_config")  # an empty configuration.yaml for MQTT to read
async def test_statistics_from_a_real_bridge(
    hass: HomeAssistant, mosquitto: Mosquitto, bridge_process: BridgeProcess
) -> None:
    mqtt_entry = await async_setup_real_mqtt(hass, mosquitto)
    options = {CONF_WINDOW_LENGTH: 1.0, CONF_LATENESS: 1.0, CONF_THROTTLE: 0.2}
    entry = add_bridge_entry(hass, BRIDGE, options)
    assert await hass.config_entries.async_setup(entry.entry_id)

    registry = er.async_get(hass)
    mean_unique_id = statistic_unique_id(BRIDGE.bridge_id, "fleet_1", "temperature", STAT_MEAN)

    def mean_id() -> str | None:
        return registry.async_get_entity_id("sensor", DOMAIN, mean_unique_id)

    await async_wait_until(hass, lambda: number(hass, mean_id()) is not None, "a first mean")
    first = number(hass, mean_id())
    await async_wait_until(hass, lambda: number(hass, mean_id()) != first, "the mean to move")
    assert bridge_process.running

    # Fed by the stream: every reading of every sensor, none refused.
    coordinator = coordinator_of(entry)
    assert coordinator.description is not None
    assert coordinator.description.topics.stream == "iot_monitor/real-pi/stream"
    assert coordinator.diagnostics()["faults"] == {}
    for device in ("fleet_1", "fleet_2"):
        for sensor in ("temperature", "humidity", "battery"):
            track = coordinator.tracks[(device, sensor)]
            assert track.window.accepted > 0, (device, sensor)
    temperature = coordinator.tracks[("fleet_1", "temperature")]
    assert temperature.result is not None
    assert temperature.result.count >= 2  # 4 Hz over a 1 s window
    assert coordinator.readings_received >= sum(
        track.window.accepted for track in coordinator.tracks.values()
    )

    # The statistics sit on the device that MQTT discovery created from the bridge's config.
    device = mqtt_device(hass, BRIDGE, "fleet_1")
    mean_entity = registry.async_get(mean_id() or "")
    assert mean_entity is not None
    assert mean_entity.device_id == device.id
    raw = registry.async_get_entity_id("sensor", "mqtt", "iot_monitor/real-pi/fleet_1/temperature")
    assert raw is not None
    assert registry.async_get(raw).device_id == device.id  # type: ignore[union-attr]

    # Connectivity and the broker in use (the bridge's own MQTT sensor), on the bridge's device.
    connectivity = bridge_entity_id(hass, BRIDGE, "binary_sensor", "connectivity")
    broker = raw_entity_id(hass, BRIDGE, "bridge", "broker")
    bridge_device = mqtt_device(hass, BRIDGE, "bridge")
    assert registry.async_get(connectivity).device_id == bridge_device.id  # type: ignore[union-attr]
    assert registry.async_get(broker).device_id == bridge_device.id  # type: ignore[union-attr]
    expected_broker = f"{mosquitto.host}:{mosquitto.port}"
    await async_wait_until(
        hass,
        lambda: getattr(hass.states.get(broker), "state", None) == expected_broker,
        "the broker in use",
    )
    assert state_of(hass, connectivity) == STATE_ON

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()
