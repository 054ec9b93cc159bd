"""A state machine as Home Assistant shows it: the entities the bridge's discovery makes.

The vending machine of bridge/examples/vending.yaml, announced by the bridge's own code
(``machine_device``) and fed to Home Assistant's MQTT integration: its state is an enum
sensor, its transitions and ledger entries are event entities, its sales are money.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from iot_monitor_bridge.config import parse_config
from iot_monitor_bridge.contract.readings import Reading, encode_state
from iot_monitor_bridge.runtime.machines import machine_device
from tests.integration.bridge_entry import own_entities, raw_entity_id
from tests.support.bridge_fleet import FleetBridge

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
MACHINE = "vending_machine"


@pytest.fixture
def bridge() -> FleetBridge:
    """One simulated device and the example's vending machine."""
    (machine,) = parse_config(EXAMPLE.read_text(encoding="utf-8")).machines
    return FleetBridge(count=1, extra=(machine_device(machine),))


@pytest.fixture
def availability() -> str:
    """The bridge is online: an unavailable event entity fires nothing."""
    return "online"


def _send(hass: HomeAssistant, bridge: FleetBridge, sensor: str, value: object, seq: int) -> None:
    reading = Reading(MACHINE, sensor, value, 1_767_268_800_000 + seq, seq)
    async_fire_mqtt_message(hass, bridge.topics.state(MACHINE, sensor), encode_state(reading))


async def test_transitions_and_ledger_entries_are_events(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    del entry
    transition = raw_entity_id(hass, bridge, MACHINE, "transition", "event")
    ledger = raw_entity_id(hass, bridge, MACHINE, "ledger", "event")
    state = hass.states.get(transition)
    assert state is not None
    assert "pay" in state.attributes["event_types"]
    assert {"start", "set_state", "timeout", "when"} <= set(state.attributes["event_types"])

    _send(hass, bridge, "transition", {"event_type": "pay", "from": "a", "to": "b"}, 1)
    await hass.async_block_till_done()
    fired = hass.states.get(transition)
    assert fired is not None
    assert fired.attributes["event_type"] == "pay"
    assert (fired.attributes["from"], fired.attributes["to"]) == ("a", "b")

    sale = {"event_type": "sale", "seq": 7, "amount": 5000, "slot": "a", "order": 1}
    _send(hass, bridge, "ledger", sale, 2)
    await hass.async_block_till_done()
    entry_state = hass.states.get(ledger)
    assert entry_state is not None
    assert entry_state.attributes["event_type"] == "sale"
    assert entry_state.attributes["amount"] == 5000
    _send(hass, bridge, "ledger", sale | {"seq": 8, "order": 2}, 3)  # a second sale fires too
    await hass.async_block_till_done()
    again = hass.states.get(ledger)
    assert again is not None
    assert again.attributes["order"] == 2


async def test_state_is_an_enum_and_sales_are_money(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    del entry
    state_id = raw_entity_id(hass, bridge, MACHINE, "state")
    _send(hass, bridge, "state", "awaiting_payment", 1)
    await hass.async_block_till_done()
    state = hass.states.get(state_id)
    assert state is not None
    assert state.state == "awaiting_payment"
    assert state.attributes["device_class"] == "enum"
    assert "needs_attention" in state.attributes["options"]

    sales_id = raw_entity_id(hass, bridge, MACHINE, "sales")
    _send(hass, bridge, "sales", 13000, 2)
    await hass.async_block_till_done()
    sales = hass.states.get(sales_id)
    assert sales is not None
    assert float(sales.state) == 13000
    assert sales.attributes["device_class"] == "monetary"
    assert sales.attributes["unit_of_measurement"] == "IDR"
    assert sales.attributes["state_class"] == "total"
    sold_id = raw_entity_id(hass, bridge, MACHINE, "sold")
    _send(hass, bridge, "sold", 2, 3)
    await hass.async_block_till_done()
    sold = hass.states.get(sold_id)
    assert sold is not None
    assert sold.state == "2"
    assert sold.attributes["state_class"] == "total_increasing"


async def test_a_machines_bookkeeping_gets_no_rolling_statistics(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """Credit, stock and sales are announced as numbers, but a mean of them says nothing."""
    unique_ids = {e.unique_id for e in own_entities(hass, entry)}
    assert any("/fleet_1/temperature/" in u for u in unique_ids)  # the fleet has its windows
    assert not [u for u in unique_ids if f"/{MACHINE}/" in u]
