"""A vending machine in the real bridge, seen by Home Assistant over a real Mosquitto.

Home Assistant's MQTT integration creates the machine's entities from the bridge's own
discovery; a purchase made with ``fire`` commands (published by Home Assistant, as an action
would) moves the enum sensor, fires the ``transition`` and ``ledger`` event entities, and
the sales totals follow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from iot_monitor_bridge.contract.ids import unique_id
from tests.integration.bridge_entry import async_setup_real_mqtt
from tests.integration.test_real_broker import async_wait_until
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import MOSQUITTO, Mosquitto
from tests.support.vending import vending_example

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed")

BRIDGE = "vending-pi"
MACHINE = "vending_machine"


@pytest.fixture
def bridge_process(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[BridgeProcess]:
    example = vending_example()
    process = BridgeProcess(
        tmp_path / "bridge",
        [mosquitto],
        example["devices"],
        bridge={"id": BRIDGE, "name": "Vending Pi"},
        machines=example["machines"],
    )
    process.env["GPIOZERO_PIN_FACTORY"] = "mock"
    yield process.start()
    process.stop()  # asserts the clean exit (0)
    process.close()  # and no traceback logged


@pytest.mark.usefixtures("mock_hass_config")  # an empty configuration.yaml for MQTT to read
async def test_a_purchase_shows_as_state_events_and_sales(
    hass: HomeAssistant, mosquitto: Mosquitto, bridge_process: BridgeProcess
) -> None:
    mqtt_entry = await async_setup_real_mqtt(hass, mosquitto)
    registry = er.async_get(hass)

    def entity(platform: str, sensor: str) -> str | None:
        return registry.async_get_entity_id(platform, "mqtt", unique_id(BRIDGE, MACHINE, sensor))

    def value(platform: str, sensor: str, attribute: str | None = None) -> object:
        entity_id = entity(platform, sensor)
        state = hass.states.get(entity_id) if entity_id else None
        if state is None:
            return None
        return state.attributes.get(attribute) if attribute else state.state

    await async_wait_until(hass, lambda: value("sensor", "state") == "idle", "the machine idle")
    assert value("event", "transition", "event_types") is not None
    assert value("sensor", "sales", "device_class") == "monetary"

    async def fire(event: str, **data: object) -> None:
        command = {"id": event, "command": "fire", "machine": "vending", "event": event}
        await mqtt.async_publish(
            hass, f"iot_monitor/{BRIDGE}/command", json.dumps(command | {"data": data})
        )

    await fire("credit", amount=5000)
    await fire("select", slot="a")
    await async_wait_until(
        hass, lambda: value("sensor", "state") == "awaiting_payment", "the selection"
    )
    await fire("pay")
    await async_wait_until(
        hass,
        lambda: (
            value("event", "transition", "event_type") == "dispensed"
            and value("sensor", "state") == "idle"
        ),
        "the dispense to end",
    )
    assert value("event", "transition", "from") == "dispensing"
    await async_wait_until(
        hass, lambda: value("event", "ledger", "event_type") == "sale", "the sale in the ledger"
    )
    assert value("event", "ledger", "amount") == 5000
    assert value("event", "ledger", "slot") == "a"
    await async_wait_until(hass, lambda: value("sensor", "sales") == "5000", "the sales total")
    await async_wait_until(hass, lambda: value("sensor", "sold") == "1", "one product sold")
    assert value("sensor", "stock_a") == "9"  # at once: a machine's numbers are not throttled
    assert bridge_process.running
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)  # before the broker stops
