"""The cards as Home Assistant serves them: the bundle on every page and the layout command.

The frontend is set up before the bridge's entry, as in a user's Home Assistant (the
manifest's ``after_dependencies``); the cards themselves run in a real browser in
tests/integration/test_dashboard_browser.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, WebSocketGenerator

from custom_components.iot_monitor.cards import BUNDLE, URL
from custom_components.iot_monitor.const import STAT_MAX, STAT_MEAN, STAT_MIN
from iot_monitor_bridge.config import parse_config
from iot_monitor_bridge.runtime.machines import machine_device
from tests.integration.bridge_entry import (
    async_setup_bridge,
    entity_id_of,
    raw_entity_id,
    statistic_entity_id,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "bridge" / "examples" / "vending.yaml"
MACHINE = "vending_machine"


@pytest.fixture
def bridge() -> FleetBridge:
    """Two simulated devices and the example's vending machine."""
    (machine,) = parse_config(EXAMPLE.read_text(encoding="utf-8")).machines
    return FleetBridge(count=2, extra=(machine_device(machine),))


@pytest.fixture
async def cards_entry(hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge) -> None:
    """The frontend first, then the bridge's entry (which registers the cards)."""
    assert await async_setup_component(hass, "frontend", {})
    await async_setup_bridge(hass, published, bridge)


@pytest.mark.usefixtures("cards_entry")
async def test_every_page_loads_the_bundle_by_a_url_that_changes_with_it(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    bundle = BUNDLE.read_bytes()
    digest = hashlib.sha256(bundle).hexdigest()[:12]

    assert f"{URL}?v={digest}" in hass.data[DATA_EXTRA_MODULE_URL].urls
    client = await hass_client()
    response = await client.get(f"{URL}?v={digest}")
    assert response.status == 200
    assert response.content_type == "text/javascript"
    assert await response.read() == bundle


@pytest.mark.usefixtures("cards_entry")
async def test_layout_names_the_entities_the_cards_show(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, bridge: FleetBridge
) -> None:
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "iot_monitor/cards/layout"})
    reply = await client.receive_json()

    assert reply["success"], reply
    (shown,) = reply["result"]["bridges"]
    assert (shown["id"], shown["name"]) == (bridge.bridge_id, bridge.name)
    assert shown["entry_id"] == hass.config_entries.async_entries("iot_monitor")[0].entry_id
    assert shown["connectivity"] == entity_id_of(
        hass, "binary_sensor", f"{bridge.bridge_id}/connectivity"
    )
    assert shown["broker"] == raw_entity_id(hass, bridge, "bridge", "broker")
    # The fleet's devices, each with its windowed sensors; not the bridge, nor the machine.
    assert [device["id"] for device in shown["devices"]] == ["fleet_1", "fleet_2"]
    temperature = shown["devices"][0]["sensors"][0]
    assert (temperature["id"], temperature["unit"]) == ("temperature", "°C")
    for statistic in (STAT_MEAN, STAT_MIN, STAT_MAX):
        assert temperature[statistic] == statistic_entity_id(
            hass, bridge, "fleet_1", "temperature", statistic
        )
    (machine,) = shown["machines"]
    assert machine["id"] == "vending"
    assert machine["state"] == raw_entity_id(hass, bridge, MACHINE, "state")
    assert machine["credit"] == raw_entity_id(hass, bridge, MACHINE, "credit")
    assert [(p["slot"], p["name"]) for p in machine["products"]] == [
        ("a", "Teh botol"),
        ("b", "Air mineral"),
        ("c", "Kopi susu"),
    ]
    assert machine["products"][2]["stock"] == raw_entity_id(hass, bridge, MACHINE, "stock_c")
    assert machine["products"][2]["price"] == raw_entity_id(hass, bridge, MACHINE, "price_c")
