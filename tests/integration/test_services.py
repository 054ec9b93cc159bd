"""The actions: what they send, what they return, and every way they refuse or fail.

Behind the mocked broker answers the bridge's own command handler (``CommandHandler``, the
pure parser and decider of the running bridge), configured with the vending example: every
payload an action publishes is parsed by the code that parses it on the Pi. Only what the
bridge's runtime adds after a machine command (the machine's state) is the test's.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
import yaml
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockMqttReasonCode,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.iot_monitor import services
from custom_components.iot_monitor.const import DOMAIN
from custom_components.iot_monitor.contract.commands import check_arguments
from custom_components.iot_monitor.services import SCHEMAS
from iot_monitor_bridge.commands import (
    CommandHandler,
    CommandOutcome,
)
from iot_monitor_bridge.contract.commands import COMMANDS, MAX_AMOUNT, MAX_COUNT
from tests.integration.bridge_entry import (
    add_bridge_entry,
    async_setup_real_mqtt,
    coordinator_of,
    mqtt_device,
)
from tests.integration.command_bridge import CommandBridge
from tests.support.bridge_fleet import FleetBridge
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import MOSQUITTO, Mosquitto

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / DOMAIN
VENDING = ROOT / "bridge" / "examples" / "vending.yaml"


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], *, response: bool = True
) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


# ----- success --------------------------------------------------------------------------


async def test_send_command_returns_the_bridge_s_result(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    command_bridge: CommandBridge,
    mqtt_client_mock: MagicMock,
) -> None:
    result = await call(
        hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"}
    )

    assert result == {"pong": True, "bridge": "lab-pi"}
    assert command_bridge.sent() == [{"command": "ping"}]
    request_id = command_bridge.commands[0]["id"]
    assert isinstance(request_id, str)
    assert 0 < len(request_id) <= 64
    payload = json.dumps({"id": request_id, "command": "ping"})
    # At most once, not retained: the result is the acknowledgement.
    topic, sent, qos, retain, *_ = mqtt_client_mock.publish.call_args.args
    assert (topic, sent, qos, retain) == (bridge.topics.command, payload, 0, False)


@pytest.mark.parametrize("device", ["bridge", "fleet_1"])
async def test_a_device_of_the_bridge_names_it(
    hass: HomeAssistant, bridge: FleetBridge, command_bridge: CommandBridge, device: str
) -> None:
    """The bridge's own device or one behind it: all belong to the MQTT integration."""
    device_id = mqtt_device(hass, bridge, device).id

    result = await call(hass, "send_command", {"device_id": device_id, "command": "ping"})

    assert result == {"pong": True, "bridge": "lab-pi"}


async def test_the_result_is_returned_only_when_asked(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    data = {"config_entry_id": entry.entry_id, "command": "ping"}

    assert await call(hass, "send_command", data, response=False) is None
    assert command_bridge.sent() == [{"command": "ping"}]  # sent and answered all the same


@pytest.mark.parametrize(
    ("service", "data", "sent", "result"),
    [
        (
            "send_command",
            {"command": "set_state", "arguments": {"machine": "vending", "state": "idle"}},
            {"command": "set_state", "machine": "vending", "state": "idle"},
            {"machine": "vending", "event": "set_state", "state": "idle", "credit": 0},
        ),
        (
            "fire_event",
            {"machine": "vending", "event": "select", "data": {"slot": "a"}},
            {"command": "fire", "machine": "vending", "event": "select", "data": {"slot": "a"}},
            {"machine": "vending", "event": "select", "state": "idle", "credit": 0},
        ),
        (
            "fire_event",
            {"machine": "vending", "event": "cancel"},
            {"command": "fire", "machine": "vending", "event": "cancel"},
            {"machine": "vending", "event": "cancel", "state": "idle", "credit": 0},
        ),
        (
            "set_output",
            {"device": "fridge", "output": "service_lamp", "state": True},
            {"command": "set_output", "device": "fridge", "output": "service_lamp", "state": True},
            {"device": "fridge", "output": "service_lamp", "state": True},
        ),
        (
            "restock",
            {"machine": "vending", "slot": "b", "count": 6},
            {"command": "restock", "machine": "vending", "slot": "b", "count": 6},
            {"machine": "vending", "event": "restock", "state": "idle", "credit": 0},
        ),
        (
            "set_price",
            {"machine": "vending", "slot": "c", "price": 9000},
            {"command": "set_price", "machine": "vending", "slot": "c", "price": 9000},
            {"machine": "vending", "event": "set_price", "state": "idle", "credit": 0},
        ),
    ],
)
async def test_every_action_sends_its_command(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    command_bridge: CommandBridge,
    service: str,
    data: dict[str, Any],
    sent: dict[str, Any],
    result: dict[str, Any],
) -> None:
    response = await call(hass, service, {"config_entry_id": entry.entry_id, **data})

    assert command_bridge.sent() == [sent]
    assert response == result


async def test_set_config_changes_the_bridge_s_settings(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    settings = {"health": {"interval": 60}}

    result = await call(
        hass, "set_config", {"config_entry_id": entry.entry_id, "settings": settings}
    )

    assert result["changed"] == ["health.interval"]
    assert result["overrides"] == {"health": {"interval": 60.0}}
    assert command_bridge.handler.config.health.interval == 60.0


async def test_set_output_with_a_duration_switches_back_after_it(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    lamp = {"device": "fridge", "output": "service_lamp"}
    data = {"config_entry_id": entry.entry_id, **lamp}

    await call(hass, "set_output", {**data, "state": True, "duration": {"seconds": 30}})
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=29))
    await hass.async_block_till_done()
    assert command_bridge.sent() == [{"command": "set_output", **lamp, "state": True}]

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert command_bridge.sent()[1:] == [{"command": "set_output", **lamp, "state": False}]


async def test_a_newer_set_output_or_an_unload_cancels_the_switch_back(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    lamp = {"device": "fridge", "output": "service_lamp"}
    data = {"config_entry_id": entry.entry_id, **lamp}

    await call(hass, "set_output", {**data, "state": True, "duration": {"seconds": 30}})
    await call(hass, "set_output", {**data, "state": True})
    await call(hass, "set_output", {**data, "state": False, "duration": {"seconds": 60}})
    assert await hass.config_entries.async_unload(entry.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done()

    assert [command["state"] for command in command_bridge.sent()] == [True, True, False]


async def test_a_switch_back_that_fails_is_logged(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    command_bridge: CommandBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = {"config_entry_id": entry.entry_id, "device": "fridge", "output": "service_lamp"}

    await call(hass, "set_output", {**data, "state": True, "duration": {"seconds": 5}})
    async_fire_mqtt_message(hass, bridge.topics.availability, "offline", 1, True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))
    await hass.async_block_till_done()

    assert len(command_bridge.commands) == 1
    assert "could not set fridge/service_lamp back after its duration" in caplog.text


# ----- refused before anything is sent ---------------------------------------------------


@pytest.mark.parametrize(
    ("service", "data", "key", "placeholders"),
    [
        (
            "send_command",
            {"command": "reboot"},
            "unknown_command",
            {"command": "reboot", "commands": ", ".join(COMMANDS)},
        ),
        (
            "send_command",
            {"command": "set_output", "arguments": {"device": "fridge", "state": True}},
            "missing_argument",
            {"command": "set_output", "argument": "output"},
        ),
        (
            "send_command",
            {"command": "ping", "arguments": {"verbose": True}},
            "unknown_argument",
            {"command": "ping", "argument": "verbose", "arguments": "-"},
        ),
        (
            "send_command",
            {"command": "set_state", "arguments": {"machine": 3, "state": "idle"}},
            "argument_not_text",
            {"command": "set_state", "argument": "machine"},
        ),
        (
            "send_command",
            {"command": "set_output", "arguments": {"device": "a", "output": "b", "state": "on"}},
            "argument_not_switch",
            {"command": "set_output", "argument": "state"},
        ),
        (
            "send_command",
            {"command": "set_config", "arguments": {"settings": [60]}},
            "argument_not_object",
            {"command": "set_config", "argument": "settings"},
        ),
        (
            "restock",
            {"machine": "vending", "slot": "a", "count": 0},
            "argument_out_of_range",
            {"command": "restock", "argument": "count", "low": "1", "high": str(MAX_COUNT)},
        ),
        (
            "set_price",
            {"machine": "vending", "slot": "a", "price": MAX_AMOUNT + 1},
            "argument_out_of_range",
            {"command": "set_price", "argument": "price", "low": "1", "high": str(MAX_AMOUNT)},
        ),
    ],
)
async def test_bad_input_is_refused_before_sending(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    command_bridge: CommandBridge,
    service: str,
    data: dict[str, Any],
    key: str,
    placeholders: dict[str, str],
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, service, {"config_entry_id": entry.entry_id, **data})

    assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, key)
    assert err.value.translation_placeholders == placeholders
    assert command_bridge.commands == []

    # The bridge, sent the same command, refuses it too, naming the same argument.
    command = data["command"] if service == "send_command" else service
    arguments = data.get("arguments", {}) if service == "send_command" else data
    payload = json.dumps({"id": "1", "command": command, **arguments}).encode()
    answer = json.loads(command_bridge.handler.handle(payload, 0.0).result_payload)
    assert answer["ok"] is False
    if key == "unknown_command":
        assert answer["error"]["code"] == "unknown_command"
    else:  # in the very words of the contract's problems, which the integration checked
        problems = check_arguments(command, arguments)
        assert answer["error"] == {
            "code": "invalid",
            "message": "; ".join(problem.message for problem in problems),
        }


async def test_refusals_read_in_the_user_s_words(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    data = {"config_entry_id": entry.entry_id, "command": "restock"}
    arguments = {"machine": "vending", "slot": "a", "count": 0}

    with pytest.raises(ServiceValidationError, match="must be a whole number from 1 to 1000000"):
        await call(hass, "send_command", {**data, "arguments": arguments})


def register_device(hass: HomeAssistant, config_entry_id: str, identifier: tuple[str, str]) -> str:
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=config_entry_id, identifiers={identifier}, name="Other"
    )
    return device.id


@pytest.mark.usefixtures("command_bridge")
async def test_a_target_that_is_not_a_configured_bridge_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    mqtt_entry_id = hass.config_entries.async_entries("mqtt")[0].entry_id
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    bridge_device = mqtt_device(hass, bridge, "bridge").id
    cases = [
        ({}, "target_required", {}),
        (
            {"device_id": bridge_device, "config_entry_id": entry.entry_id},
            "target_required",
            {},
        ),
        ({"config_entry_id": "nope"}, "entry_not_found", {"entry_id": "nope"}),
        ({"config_entry_id": other.entry_id}, "entry_not_found", {"entry_id": other.entry_id}),
        ({"device_id": "nope"}, "device_not_found", {"device_id": "nope"}),
        (
            {"device_id": register_device(hass, mqtt_entry_id, ("mqtt", "zigbee/plug"))},
            "not_a_bridge_device",
            {"device": "Other"},
        ),
        (
            {"device_id": register_device(hass, mqtt_entry_id, ("mqtt", "iot_monitor/other-pi"))},
            "bridge_not_configured",
            {"bridge_id": "other-pi"},
        ),
    ]
    for target, key, placeholders in cases:
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "send_command", {**target, "command": "ping"})
        assert (err.value.translation_key, err.value.translation_placeholders) == (
            key,
            placeholders,
        ), target

    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "send_command", {"device_id": bridge_device, "command": "ping"})
    assert (err.value.translation_key, err.value.translation_placeholders) == (
        "bridge_not_loaded",
        {"name": "Lab Pi"},
    )


# ----- refused or failed by the bridge ---------------------------------------------------


async def test_a_refusal_by_the_bridge_is_a_validation_error(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    """Only the bridge knows its outputs: one it does not have is ``not_allowed``."""
    data = {"config_entry_id": entry.entry_id, "device": "fridge", "output": "pump"}

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_output", {**data, "state": True})

    assert err.value.translation_key == "command_refused"
    assert err.value.translation_placeholders == {
        "name": "Lab Pi",
        "command": "set_output",
        "code": "not_allowed",
        "message": "no output 'pump' on device 'fridge' in the configuration",
    }


async def test_a_machine_that_says_no_is_an_error_of_the_bridge(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    def out_of_stock(handler: CommandHandler, outcome: CommandOutcome, *_: str) -> bytes:
        return handler.refused(outcome, "out_of_stock", "slot 'a' is empty")

    command_bridge.machine_answer = out_of_stock
    data = {"config_entry_id": entry.entry_id, "machine": "vending", "event": "select"}

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "fire_event", {**data, "data": {"slot": "a"}})

    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {
        "name": "Lab Pi",
        "command": "fire",
        "code": "out_of_stock",
        "message": "slot 'a' is empty",
    }


# ----- offline, silent, disconnected ------------------------------------------------------


@pytest.mark.parametrize("availability", ["offline"])
async def test_an_offline_bridge_fails_at_once_and_nothing_is_sent(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"})

    assert (err.value.translation_key, err.value.translation_placeholders) == (
        "bridge_offline",
        {"name": "Lab Pi"},
    )
    assert command_bridge.commands == []


async def test_a_silent_bridge_times_out(
    hass: HomeAssistant, entry: MockConfigEntry, command_bridge: CommandBridge
) -> None:
    command_bridge.answering = False

    with (
        patch.object(services, "RESULT_TIMEOUT_S", 0.05),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"})

    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {
        "name": "Lab Pi",
        "command": "ping",
        "seconds": "0.05",
    }
    assert command_bridge.sent() == [{"command": "ping"}]
    assert "did not answer ping within 0.05 seconds" in str(err.value)


@pytest.mark.parametrize(
    ("event", "key"), [("offline", "bridge_offline"), ("unload", "bridge_not_loaded")]
)
async def test_a_waiting_action_fails_when_the_bridge_goes_offline_or_is_unloaded(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    command_bridge: CommandBridge,
    event: str,
    key: str,
) -> None:
    command_bridge.answering = False
    waiting = asyncio.create_task(
        call(hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"})
    )
    await command_bridge.received.wait()

    if event == "offline":
        async_fire_mqtt_message(hass, bridge.topics.availability, "offline", 1, True)
    else:
        assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await waiting

    assert (err.value.translation_key, err.value.translation_placeholders) == (
        key,
        {"name": "Lab Pi"},
    )


async def test_while_mqtt_is_disconnected_nothing_is_sent(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    command_bridge: CommandBridge,
    mqtt_client_mock: MagicMock,
) -> None:
    mqtt_client_mock.on_disconnect(None, None, 0, MockMqttReasonCode())
    await hass.async_block_till_done()

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"})

    assert err.value.translation_key == "mqtt_not_available"
    assert command_bridge.commands == []


async def test_a_result_that_is_not_one_is_counted_and_ignored(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, command_bridge: CommandBridge
) -> None:
    async_fire_mqtt_message(hass, bridge.topics.command_result, b'{"ok": "yes"}', 1)
    await hass.async_block_till_done()

    assert coordinator_of(entry).faults.counts["invalid_command_result"] == 1
    assert await call(
        hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"}
    ) == {"pong": True, "bridge": "lab-pi"}


async def test_only_the_first_result_with_the_request_s_id_counts(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, command_bridge: CommandBridge
) -> None:
    """Results of other senders' commands share the topic; a result already in is final."""
    command_bridge.answering = False
    waiting = asyncio.create_task(
        call(hass, "send_command", {"config_entry_id": entry.entry_id, "command": "ping"})
    )
    await command_bridge.received.wait()
    request_id = command_bridge.commands[0]["id"]

    for result_id, answer in (("someone-else", 1), (request_id, 2), (request_id, 3)):
        payload = json.dumps({"id": result_id, "ok": True, "result": {"answer": answer}})
        async_fire_mqtt_message(hass, bridge.topics.command_result, payload, 1)
    async_fire_mqtt_message(hass, bridge.topics.availability, "offline", 1, True)

    assert await waiting == {"answer": 2}


# ----- over a real broker, with the real bridge -------------------------------------------

REAL = FleetBridge(bridge_id="command-pi", name="Command Pi", count=1)
"""Only its id, name and topic root are used: the entry the config flow would make."""
BOILER = {
    "id": "boiler",
    "name": "Boiler room",
    "outputs": [{"id": "fan", "type": "gpio_output", "pin": 27}],
}


@pytest.fixture
def real_bridge(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[BridgeProcess]:
    """The bridge as a process, its GPIO output on gpiozero's mock pins."""
    process = BridgeProcess(
        tmp_path / "bridge", [mosquitto], [BOILER], bridge={"id": REAL.bridge_id, "name": REAL.name}
    )
    process.env["GPIOZERO_PIN_FACTORY"] = "mock"
    process.start()
    yield process
    process.stop()  # asserts the clean exit (0)
    process.close()  # and no traceback logged


async def async_wait_for_state(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """Until ``entity_id`` has ``state`` (it may already), woken by its state changes."""
    changed = asyncio.Event()

    @callback
    def state_changed(_event: Event[EventStateChangedData]) -> None:
        changed.set()

    unsubscribe = async_track_state_change_event(hass, entity_id, state_changed)
    try:
        async with asyncio.timeout(30):
            while getattr(hass.states.get(entity_id), "state", None) != state:
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


@pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed")
@pytest.mark.usefixtures("mock_hass_config")  # an empty configuration.yaml for MQTT to read
async def test_actions_reach_a_real_bridge_and_bring_its_answer_back(
    hass: HomeAssistant, mosquitto: Mosquitto, real_bridge: BridgeProcess
) -> None:
    mqtt_entry = await async_setup_real_mqtt(hass, mosquitto)
    entry = add_bridge_entry(hass, REAL)
    assert await hass.config_entries.async_setup(entry.entry_id)
    fan = f"switch.{slugify(BOILER['name'])}_fan"  # MQTT discovery's entity of the output
    await async_wait_for_state(hass, fan, STATE_OFF)  # the bridge is online and published it
    target = {"config_entry_id": entry.entry_id}

    assert await call(hass, "send_command", {**target, "command": "ping"}) == {
        "pong": True,
        "bridge": REAL.bridge_id,
    }
    device = mqtt_device(hass, REAL, "boiler").id
    result = await call(
        hass,
        "set_output",
        {"device_id": device, "device": "boiler", "output": "fan", "state": True,
         "duration": {"seconds": 0.5}},
    )  # fmt: skip
    assert result == {"device": "boiler", "output": "fan", "state": True}
    await async_wait_for_state(hass, fan, STATE_ON)  # the pin's state, published by the bridge
    await async_wait_for_state(hass, fan, STATE_OFF)  # switched back after the duration
    assert real_bridge.health()["commands"] == {"ok": 3}  # ping, on, and the switch back

    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass, "set_output", {**target, "device": "boiler", "output": "pump", "state": True}
        )
    assert err.value.translation_placeholders["code"] == "not_allowed"

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()


# ----- the static files agree with the code ------------------------------------------------


def test_services_yaml_lists_every_action_with_the_contract_s_commands_and_bounds() -> None:
    described = {
        name: service
        for name, service in yaml.safe_load((INTEGRATION / "services.yaml").read_text()).items()
        if not name.startswith(".")
    }
    strings = json.loads((INTEGRATION / "strings.json").read_text())["services"]
    icons = json.loads((INTEGRATION / "icons.json").read_text())["services"]

    assert set(described) == set(SCHEMAS) == set(strings) == set(icons)
    for name, service in described.items():
        fields = set(service["fields"])
        assert fields == {str(key) for key in SCHEMAS[name].schema}, name
        assert fields == set(strings[name]["fields"]), name
    send_command = described["send_command"]["fields"]["command"]
    assert send_command["selector"]["select"]["options"] == list(COMMANDS)
    assert described["restock"]["fields"]["count"]["selector"]["number"]["max"] == MAX_COUNT
    assert described["set_price"]["fields"]["price"]["selector"]["number"]["max"] == MAX_AMOUNT
