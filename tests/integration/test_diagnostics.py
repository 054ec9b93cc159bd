"""The diagnostics download: entry settings plus the running bridge, with the address redacted."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.iot_monitor.const import (
    CONF_BRIDGE_ID,
    CONF_HOST,
    CONF_TOPIC_ROOT,
    CONF_WINDOW_LENGTH,
)
from tests.integration.bridge_entry import (
    T0_MS,
    add_bridge_entry,
    async_run_timers_due_within,
    async_setup_bridge,
    fire_reading,
    fire_series,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge


@pytest.fixture
async def entry(
    hass: HomeAssistant, described: RetainedBroker, bridge: FleetBridge
) -> MockConfigEntry:
    """The bridge's entry as zeroconf made it (with the bridge's address), set up."""
    entry = add_bridge_entry(
        hass, bridge, {CONF_WINDOW_LENGTH: 10.0}, **{CONF_HOST: "192.168.1.50"}
    )
    return await async_setup_bridge(hass, described, bridge, entry=entry)


async def test_diagnostics_of_a_running_bridge(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    snapshot: SnapshotAssertion,
) -> None:
    async_fire_mqtt_message(hass, bridge.topics.availability, "online", 1)
    fire_reading(hass, bridge, "bridge", "broker", "192.168.1.10:1883", T0_MS, 1)
    async_fire_mqtt_message(hass, bridge.topics.stream, '[["fleet_1", "temperature", 1, 1, -1]]')
    fire_reading(hass, bridge, "fleet_1", "humidity", "48 %", T0_MS, 6)
    fire_series(
        hass,
        bridge,
        "fleet_1",
        "temperature",
        [20.0, 22.0, 24.0, 26.0],
        start_ms=T0_MS,
        step_ms=4000,
        first_seq=2,
    )
    await async_run_timers_due_within(hass, 2)  # past the throttle

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["entry"]["data"][CONF_HOST] == "**REDACTED**"
    assert diagnostics["bridge"]["faults"] == {"invalid_stream": 1, "non_numeric": 1}
    assert diagnostics["bridge"]["readings_received"] == 6
    assert diagnostics["bridge"]["last_seen"] is not None
    assert diagnostics == snapshot(exclude=props("last_seen"))


async def test_diagnostics_of_an_unloaded_entry_show_its_settings_only(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics == {
        "entry": {
            "title": "Lab Pi",
            "data": {
                CONF_BRIDGE_ID: "lab-pi",
                CONF_TOPIC_ROOT: "iot_monitor",
                CONF_HOST: "**REDACTED**",
            },
            "options": {CONF_WINDOW_LENGTH: 10.0},
        },
        "bridge": None,
    }
