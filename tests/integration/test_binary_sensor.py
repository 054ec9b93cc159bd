"""The bridge's connectivity, from its retained availability topic."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.integration.bridge_entry import (
    bridge_entity_id,
    coordinator_of,
    mqtt_device,
    state_of,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge


async def test_connectivity_follows_availability(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    entity_id = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None
    assert entity.entity_category is EntityCategory.DIAGNOSTIC
    assert mqtt_device(hass, bridge, "bridge").id == entity.device_id
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
    coordinator = coordinator_of(entry)
    assert coordinator.diagnostics()["faults"] == {"invalid_availability": 1}
    assert coordinator.diagnostics()["online"] is False


@pytest.mark.parametrize("availability", ["online"])
async def test_retained_availability_at_setup(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    connectivity = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")
    assert state_of(hass, connectivity) == STATE_ON
    assert coordinator_of(entry).last_seen is not None
