"""Behaviour the platform tests leave out: MQTT's own connection, extreme values, odd input.

Covers what Home Assistant's MQTT client losing its broker does to the entities, statistics
beyond float range, descriptions without the bridge's device, state topics (not read),
devices that are not this bridge's, and the contract's decoding of malformed descriptions.
"""

from __future__ import annotations

import json
import re
from typing import Any
from unittest.mock import MagicMock

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from hypothesis import given
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockMqttReasonCode,
    async_fire_mqtt_message,
)

from custom_components.iot_monitor.const import (
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    STAT_RATE,
    STAT_STDEV,
)
from custom_components.iot_monitor.contract import CONTRACT_VERSION
from custom_components.iot_monitor.contract.description import (
    BridgeDescription,
    ContractMismatchError,
    InvalidDescriptionError,
    SensorKind,
    decode_description,
    encode_description,
)
from custom_components.iot_monitor.contract.readings import encode_state
from custom_components.iot_monitor.sensor import ATTR_WINDOW_END, ATTR_WINDOW_START
from iot_monitor_bridge.contract.ids import device_identifier
from iot_monitor_bridge.contract.readings import Reading
from tests.integration.bridge_entry import (
    SLIDING_5S,
    async_pass_throttle,
    bridge_entity_id,
    coordinator_of,
    description_of_contract,
    fire_series,
    mqtt_device,
    own_entities,
    state_of,
    statistic_entity_id,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

DEVICE = "fleet_1"


@pytest.fixture
def availability() -> str:
    """The bridge is online unless a test says otherwise."""
    return "online"


def without_bridge_device(bridge: FleetBridge) -> str:
    description = json.loads(bridge.description_payload())
    description["devices"] = [d for d in description["devices"] if d["id"] != "bridge"]
    return json.dumps(description)


@pytest.mark.usefixtures("entry")
async def test_entities_are_unavailable_while_mqtt_is_disconnected(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge, mqtt_client_mock: MagicMock
) -> None:
    """Nothing from the bridge can arrive then; the raw MQTT sensors are unavailable too."""
    mean_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)
    connectivity = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")
    assert (state_of(hass, mean_id), state_of(hass, connectivity)) == (STATE_UNKNOWN, STATE_ON)

    mqtt_client_mock.on_disconnect(None, None, 0, MockMqttReasonCode())
    await hass.async_block_till_done()
    assert state_of(hass, mean_id) == STATE_UNAVAILABLE
    assert state_of(hass, connectivity) == STATE_UNAVAILABLE  # not known to be offline

    # On reconnect the broker replays the retained availability.
    mqtt_client_mock.on_connect(None, None, None, MockMqttReasonCode())
    await published.wait_for_subscription(bridge.topics.availability, times=2)
    await hass.async_block_till_done()
    assert (state_of(hass, mean_id), state_of(hass, connectivity)) == (STATE_UNKNOWN, STATE_ON)


@pytest.mark.usefixtures("entry")
async def test_shutdown_keeps_the_last_states(
    hass: HomeAssistant, bridge: FleetBridge, mqtt_client_mock: MagicMock
) -> None:
    """MQTT disconnects while Home Assistant stops: no outage to record, as for MQTT's entities."""
    connectivity = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")

    hass.set_state(CoreState.stopping)
    mqtt_client_mock.on_disconnect(None, None, 0, MockMqttReasonCode())
    await hass.async_block_till_done()
    assert state_of(hass, connectivity) == STATE_ON
    hass.set_state(CoreState.running)  # let the harness stop Home Assistant its own way


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "entry")
@pytest.mark.parametrize("options", [SLIDING_5S])
async def test_statistics_beyond_float_range_are_unknown(
    hass: HomeAssistant,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A spread or a rate too large for a float is no state; the other statistics still are."""
    fire_series(hass, bridge, DEVICE, "temperature", [1.5e308, -1.5e308])
    await async_pass_throttle(hass, freezer)

    def statistic(name: str) -> str:
        return state_of(hass, statistic_entity_id(hass, bridge, DEVICE, "temperature", name))

    assert statistic(STAT_STDEV) == STATE_UNKNOWN
    assert statistic(STAT_RATE) == STATE_UNKNOWN
    assert float(statistic(STAT_MEAN)) == 0.0
    assert float(statistic(STAT_MIN)) == -1.5e308
    assert float(statistic(STAT_MAX)) == 1.5e308
    assert "non-finite" not in caplog.text


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize("options", [SLIDING_5S])
async def test_a_window_beyond_the_calendar_still_shows_its_value(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    """A clock set to the year 11 000 gives windows no date can name: the times are empty."""
    year_11000_ms = 285_000_000_000_000
    fire_series(hass, bridge, DEVICE, "temperature", [21.5], start_ms=year_11000_ms)
    await hass.async_block_till_done()  # the first write is not throttled

    mean = hass.states.get(statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN))
    assert mean is not None
    assert float(mean.state) == 21.5
    assert (mean.attributes[ATTR_WINDOW_START], mean.attributes[ATTR_WINDOW_END]) == (None, None)


async def test_a_description_without_the_bridge_device_keeps_its_sensors(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """Connectivity stays on the bridge's device under its documented id."""
    published.publish(bridge.description_topic, without_bridge_device(bridge))
    await hass.async_block_till_done()

    coordinator = coordinator_of(entry)
    assert coordinator.description is not None
    assert [d.id for d in coordinator.description.devices] == [DEVICE]
    assert coordinator.bridge_identifier == device_identifier(bridge.bridge_id, "bridge")
    registry = er.async_get(hass)
    bridge_device = mqtt_device(hass, bridge, "bridge")
    entity_id = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")
    assert registry.async_get(entity_id).device_id == bridge_device.id  # type: ignore[union-attr]


async def test_devices_of_others_do_not_take_the_statistics(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    before = {e.entity_id: e.device_id for e in own_entities(hass, entry)}

    mqtt_entry = hass.config_entries.async_entries("mqtt")[0]
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=mqtt_entry.entry_id,
        identifiers={("mqtt", device_identifier("other-pi", DEVICE))},
        name="Other fleet 1",
    )
    await hass.async_block_till_done()

    after = {e.entity_id: e.device_id for e in own_entities(hass, entry)}
    assert after == before
    assert er.async_entries_for_device(er.async_get(hass), other.id) == []


@pytest.mark.parametrize("availability", [None])
async def test_state_topics_are_not_read(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """They are for Home Assistant's MQTT entities and carry only some readings: the
    statistics come from the stream alone, so a state is no reading and no sign of life."""
    coordinator = coordinator_of(entry)
    assert coordinator.last_seen is not None  # the retained description
    seen = coordinator.last_seen

    reading = Reading(DEVICE, "temperature", 21.0, 1000, 1)
    async_fire_mqtt_message(hass, bridge.topics.state(DEVICE, "temperature"), encode_state(reading))
    async_fire_mqtt_message(hass, f"{bridge.topics.base}//temperature/state", "not json")
    await hass.async_block_till_done()

    assert coordinator.last_seen == seen
    assert coordinator.readings_received == 0
    assert coordinator.diagnostics()["faults"] == {}
    assert all(track.window.accepted == 0 for track in coordinator.tracks.values())


# The description, as the contract decodes it


def test_a_description_round_trips_through_the_contract() -> None:
    """What the bridge encodes is what the integration decodes, ``contract`` included."""
    payload = FleetBridge(count=1).description_payload()
    described = decode_description(payload)

    assert described.contract == CONTRACT_VERSION == json.loads(payload)["contract"]
    assert encode_description(described).decode() == payload
    assert described.topics.stream == "iot_monitor/lab-pi/stream"
    fleet_1 = next(d for d in described.devices if d.id == DEVICE)
    temperature = next(s for s in fleet_1.sensors if s.id == "temperature")
    assert (temperature.name, temperature.kind, temperature.windowed) == (
        None,  # only its device class: Home Assistant names it, translated
        SensorKind.NUMERIC,
        True,
    )


def test_a_description_with_outputs() -> None:
    payload = json.loads(FleetBridge(count=1).description_payload())
    fleet_1 = next(d for d in payload["devices"] if d["id"] == DEVICE)
    fleet_1["outputs"] = [{"id": "fan", "name": "Fan"}]

    described = decode_description(json.dumps(payload))

    device = next(d for d in described.devices if d.id == DEVICE)
    assert [(o.id, o.name) for o in device.outputs] == [("fan", "Fan")]


def test_fields_a_later_bridge_adds_are_ignored() -> None:
    """Fields are only added within a contract version; readers skip what they do not know."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    payload["devices"][1]["sensors"][0]["colour"] = "red"
    payload["firmware"] = {"build": 7}

    assert decode_description(json.dumps(payload)) == decode_description(
        FleetBridge(count=1).description_payload()
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["devices"].append("fleet_2"),
            "Expected `object`, got `str` - at `$.devices[2]`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(options=[1, 2]),
            "Expected `str`, got `int` - at `$.devices[1].sensors[0].options[0]`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(precision=True),
            "Expected `int | null`, got `bool` - at `$.devices[1].sensors[0].precision`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(precision=16),
            "Expected `int` <= 15 - at `$.devices[1].sensors[0].precision`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(diagnostic="false"),
            "Expected `bool`, got `str` - at `$.devices[1].sensors[0].diagnostic`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(diagnostic=0),
            "Expected `bool`, got `int` - at `$.devices[1].sensors[0].diagnostic`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(kind="numbers"),
            "Invalid enum value 'numbers' - at `$.devices[1].sensors[0].kind`",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(id="Temp/1"),
            "at `$.devices[1].sensors[0].id`",
        ),
        (lambda d: d.update(id="lab_pi"), "at `$.id`"),  # no "_" in a bridge id
        (lambda d: d["topics"].pop("stream"), "missing required field `stream` - at `$.topics`"),
        (lambda d: d.update(contract="2"), "Expected `int | null`, got `str` - at `$.contract`"),
    ],
)
def test_descriptions_that_do_not_fit_the_schema(change: Any, message: str) -> None:
    payload = json.loads(FleetBridge(count=1).description_payload())
    change(payload)

    with pytest.raises(InvalidDescriptionError, match=re.escape(message)) as raised:
        decode_description(json.dumps(payload))
    assert not isinstance(raised.value, ContractMismatchError)


@pytest.mark.parametrize(
    ("contract", "found", "update"),
    [(None, None, "bridge"), (1, 1, "bridge"), (3, 3, "integration"), (-1, -1, "bridge")],
)
def test_another_contract_says_which_side_to_update(
    contract: int | None, found: int | None, update: str
) -> None:
    """Checked before anything else: even a description that would not fit is not read."""
    payload = description_of_contract(FleetBridge(count=1), contract)

    with pytest.raises(ContractMismatchError) as raised:
        decode_description(payload)
    assert (raised.value.bridge_id, raised.value.found, raised.value.update) == (
        "lab-pi",
        found,
        update,
    )
    spoken = 1 if contract is None else contract
    assert str(raised.value) == (
        f"bridge 'lab-pi' speaks contract {spoken}, this side {CONTRACT_VERSION}: "
        f"update the {update}"
    )
    with pytest.raises(ContractMismatchError):
        decode_description(json.dumps({"contract": contract}))


@pytest.mark.parametrize(
    ("diagnostic", "expected"), [(True, True), (False, False), ("absent", False)]
)
def test_only_a_json_boolean_marks_a_sensor_diagnostic(diagnostic: Any, expected: bool) -> None:
    """Left out it means not diagnostic, as for the other optional fields."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    sensor = payload["devices"][1]["sensors"][0]
    if diagnostic == "absent":
        del sensor["diagnostic"]
    else:
        sensor["diagnostic"] = diagnostic

    described = decode_description(json.dumps(payload))

    assert described.devices[1].sensors[0].diagnostic is expected


def test_a_null_diagnostic_is_refused() -> None:
    """Contract 2 declares it a boolean (version 1 read ``null`` as ``false``)."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    payload["devices"][1]["sensors"][0]["diagnostic"] = None

    with pytest.raises(InvalidDescriptionError, match=re.escape("Expected `bool`, got `null`")):
        decode_description(json.dumps(payload))


def test_deeply_nested_json_is_no_description() -> None:
    with pytest.raises(InvalidDescriptionError, match="not a description"):
        decode_description("[" * 100_000)
    with pytest.raises(InvalidDescriptionError, match="not a description"):
        decode_description('{"contract": 2, "id": ' + "[" * 100_000)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


@given(data=st.data())
def test_mutated_descriptions_never_raise_anything_else(data: st.DataObject) -> None:
    """Any part of a real description replaced by any JSON value: decoded or refused cleanly."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(JSON_VALUES)

    try:
        decoded = decode_description(json.dumps(payload))
    except ContractMismatchError:
        assert path == ("contract",)
        return
    except InvalidDescriptionError:
        return
    assert isinstance(decoded, BridgeDescription)
    assert decoded.contract == CONTRACT_VERSION


@given(payload=st.binary(max_size=64) | st.text(max_size=64))
def test_random_payloads_are_no_description(payload: bytes | str) -> None:
    with pytest.raises(InvalidDescriptionError):
        decode_description(payload)
