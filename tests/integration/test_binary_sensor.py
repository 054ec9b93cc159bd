"""The bridge's connectivity, from its retained availability topic."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.iot_monitor.bridge import BridgeRuntime, bridge_unique_id
from custom_components.iot_monitor.const import DOMAIN
from iot_monitor_bridge.protocol.discovery import device_identifier
from tests.integration.bridge_entry import async_setup_bridge
from tests.integration.conftest import RetainedBroker
from tests.support.bridge_fleet import FleetBridge


@pytest.fixture
def bridge() -> FleetBridge:
    return FleetBridge(count=1)


@pytest.fixture
async def published(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge, mqtt_mock: MqttMockHAClient
) -> RetainedBroker:
    broker.publish_bridge(bridge)
    await hass.async_block_till_done()
    return broker


def connectivity_id(hass: HomeAssistant, bridge: FleetBridge) -> str:
    unique_id = bridge_unique_id(bridge.bridge_id, "connectivity")
    entity_id = er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def test_connectivity_follows_availability(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    entry = await async_setup_bridge(hass, published, bridge)
    entity_id = connectivity_id(hass, bridge)
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None
    assert entity.entity_category is EntityCategory.DIAGNOSTIC
    bridge_device = dr.async_get(hass).async_get_devices(
        identifiers={("mqtt", device_identifier(bridge.bridge_id, "bridge"))}
    )
    assert [device.id for device in bridge_device] == [entity.device_id]
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNKNOWN  # the bridge has not said anything yet
    assert state.attributes["device_class"] == "connectivity"

    published.publish(bridge.topics.availability, "online")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_ON

    published.publish(bridge.topics.availability, "offline")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_OFF

    published.publish(bridge.topics.availability, "sleeping")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == STATE_OFF
    runtime: BridgeRuntime = entry.runtime_data
    assert runtime.diagnostics()["faults"] == {"invalid_availability": 1}
    assert runtime.diagnostics()["online"] is False


async def test_retained_availability_at_setup(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    published.publish(bridge.topics.availability, "online")
    entry: MockConfigEntry = await async_setup_bridge(hass, published, bridge)
    assert state_of(hass, connectivity_id(hass, bridge)) == STATE_ON
    runtime: BridgeRuntime = entry.runtime_data
    assert runtime.last_seen is not None
