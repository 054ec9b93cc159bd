"""Setting up, unloading and reloading a bridge's entry; what its coordinator does with input."""

from __future__ import annotations

import json

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.iot_monitor.const import DOMAIN, STAT_MEAN
from tests.integration.bridge_entry import (
    add_bridge_entry,
    coordinator_of,
    fire_reading,
    fire_series,
    own_entities,
    statistic_entity_id,
    subscribed_again,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

DEVICE = "fleet_1"


async def test_setup_unload_and_reload(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    assert entry.state is ConfigEntryState.LOADED
    coordinator = coordinator_of(entry)
    assert coordinator.description is not None
    assert coordinator.description.device_count == 1
    mean_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    state = hass.states.get(mean_id)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    # Unsubscribed: the stream no longer reaches the old coordinator.
    fire_reading(hass, bridge, DEVICE, "temperature", 21.0, 1000, 1)
    await hass.async_block_till_done()
    assert coordinator.tracks[(DEVICE, "temperature")].window.accepted == 0

    async with subscribed_again(hass, published, bridge):
        assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert coordinator_of(entry) is not coordinator
    state = hass.states.get(mean_id)
    assert state is not None
    assert state.state != STATE_UNAVAILABLE


async def test_not_ready_without_mqtt(hass: HomeAssistant, bridge: FleetBridge) -> None:
    entry = add_bridge_entry(hass, bridge)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "mqtt_not_available"
    assert entry.error_reason_translation_domain == DOMAIN


async def test_descriptions_that_do_not_fit_are_ignored(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """Garbage, and another bridge's description on this topic, change nothing."""
    coordinator = coordinator_of(entry)
    before = {e.unique_id for e in own_entities(hass, entry)}

    async_fire_mqtt_message(hass, bridge.description_topic, "{not json")
    # This contract, but no description (another contract is a repair issue: test_repairs).
    async_fire_mqtt_message(
        hass, bridge.description_topic, json.dumps({"contract": 2, "id": bridge.bridge_id})
    )
    other = json.loads(FleetBridge(bridge_id="other-pi", count=3).description_payload())
    async_fire_mqtt_message(hass, bridge.description_topic, json.dumps(other))
    await hass.async_block_till_done()

    after = {e.unique_id for e in own_entities(hass, entry)}
    assert after == before
    faults = coordinator.diagnostics()["faults"]
    assert faults == {"invalid_description": 2, "foreign_description": 1}
    assert coordinator.description is not None
    assert coordinator.description.id == bridge.bridge_id


@pytest.mark.parametrize("availability", ["online"])
async def test_coordinator_diagnostics(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """What the diagnostics download reads from the coordinator."""
    fire_series(hass, bridge, DEVICE, "humidity", [50.0, 51.0])
    fire_reading(hass, bridge, DEVICE, "humidity", 49.0, 1000, 2)  # seq 2 again
    fire_reading(hass, bridge, "bridge", "broker", "127.0.0.1:1883", 1000, 9)  # no statistics
    await hass.async_block_till_done()

    diagnostics = coordinator_of(entry).diagnostics()
    assert diagnostics["online"] is True
    assert "broker" not in diagnostics  # the bridge's raw "Broker" sensor shows it
    assert diagnostics["readings_received"] == 4
    assert diagnostics["last_seen"] is not None
    assert diagnostics["base_topic"] == "iot_monitor/lab-pi"
    assert diagnostics["window"] == {
        "kind": "tumbling",
        "length_s": 10.0,
        "lateness_s": 60.0,
        "throttle_s": 1.0,
        "statistics": ["mean", "min", "max", "stdev", "count", "rate_of_change"],
    }
    assert diagnostics["description"]["device_count"] == 1
    assert diagnostics["description"]["contract"] == 2
    assert diagnostics["description"]["devices"][DEVICE] == [
        "temperature",
        "humidity",
        "battery",
        "status",
        "location",
    ]
    assert diagnostics["windows"][f"{DEVICE}/humidity"] == {
        "accepted": 2,
        "late": 0,
        "duplicates": 1,
        "result": None,  # the first 10 s window is not complete yet
    }
    assert f"{DEVICE}/status" not in diagnostics["windows"]
    json.dumps(diagnostics)  # serialisable as it is
