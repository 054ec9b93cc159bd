"""Behaviour the platform tests leave out: MQTT's own connection, extreme values, odd input.

Covers what Home Assistant's MQTT client losing its broker does to the entities, statistics
beyond float range, descriptions without the bridge's device, topics and devices that are
not this bridge's, and the description parser's handling of malformed payloads.
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
from custom_components.iot_monitor.description import (
    BridgeDescription,
    InvalidDescription,
    parse_description,
)
from custom_components.iot_monitor.sensor import ATTR_WINDOW_END, ATTR_WINDOW_START
from iot_monitor_bridge.protocol.discovery import device_identifier
from tests.integration.bridge_entry import (
    SLIDING_5S,
    async_pass_throttle,
    bridge_entity_id,
    fire_series,
    mqtt_device,
    own_entities,
    runtime_of,
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
    """Connectivity and the broker sensor stay on the bridge's device under its default id."""
    published.publish(bridge.description_topic, without_bridge_device(bridge))
    await hass.async_block_till_done()

    runtime = runtime_of(entry)
    assert runtime.description is not None
    assert [d.id for d in runtime.description.devices] == [DEVICE]
    assert runtime.bridge_identifier == device_identifier(bridge.bridge_id, "bridge")
    registry = er.async_get(hass)
    bridge_device = mqtt_device(hass, bridge, "bridge")
    for key, platform in (("connectivity", "binary_sensor"), ("broker", "sensor")):
        entity_id = bridge_entity_id(hass, bridge, platform, key)
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
async def test_state_topics_with_an_empty_level_are_ignored(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """They match the subscription's wildcards but name no sensor: no fault, no sign of life."""
    runtime = runtime_of(entry)
    assert runtime.last_seen is not None  # the retained description
    seen = runtime.last_seen

    base = f"{bridge.topic_root}/{bridge.bridge_id}"
    async_fire_mqtt_message(hass, f"{base}//temperature/state", '{"v": 1, "ts": 1, "seq": 1}')
    async_fire_mqtt_message(hass, f"{base}/{DEVICE}//state", '{"v": 1, "ts": 1, "seq": 2}')
    await hass.async_block_till_done()

    assert runtime.last_seen == seen
    assert runtime.diagnostics()["faults"] == {}
    assert all(track.window.accepted == 0 for track in runtime.tracks.values())


# The description parser


def test_a_description_with_outputs() -> None:
    payload = json.loads(FleetBridge(count=1).description_payload())
    fleet_1 = next(d for d in payload["devices"] if d["id"] == DEVICE)
    fleet_1["outputs"] = [
        {
            "id": "fan",
            "name": "Fan",
            "state_topic": "iot_monitor/lab-pi/fleet_1/fan/state",
            "command_topic": "iot_monitor/lab-pi/fleet_1/fan/set",
        }
    ]

    described = parse_description(json.dumps(payload))

    device = next(d for d in described.devices if d.id == DEVICE)
    assert [(o.id, o.name, o.command_topic) for o in device.outputs] == [
        ("fan", "Fan", "iot_monitor/lab-pi/fleet_1/fan/set")
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["devices"].append("fleet_2"), "description.devices[2]: expected object"),
        (
            lambda d: d["devices"][1]["sensors"][0].update(options=[1, 2]),
            "options: expected a list of strings",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(precision=True),
            "precision: expected int",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(diagnostic="false"),
            "description.devices[1].sensors[0].diagnostic: expected bool",
        ),
        (
            lambda d: d["devices"][1]["sensors"][0].update(diagnostic=0),
            "description.devices[1].sensors[0].diagnostic: expected bool",
        ),
        (lambda d: d.update(schema=2), "unsupported schema 2"),
    ],
)
def test_descriptions_that_do_not_fit_the_schema(change: Any, message: str) -> None:
    payload = json.loads(FleetBridge(count=1).description_payload())
    change(payload)

    with pytest.raises(InvalidDescription, match=re.escape(message)):
        parse_description(json.dumps(payload))


@pytest.mark.parametrize(
    ("diagnostic", "expected"), [(True, True), (False, False), (None, False), ("absent", False)]
)
def test_only_a_json_boolean_marks_a_sensor_diagnostic(diagnostic: Any, expected: bool) -> None:
    """Left out or null it means not diagnostic, as for the other optional fields."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    sensor = payload["devices"][1]["sensors"][0]
    if diagnostic == "absent":
        del sensor["diagnostic"]
    else:
        sensor["diagnostic"] = diagnostic

    described = parse_description(json.dumps(payload))

    assert described.devices[1].sensors[0].diagnostic is expected


def test_deeply_nested_json_is_no_description() -> None:
    """Python's JSON decoder gives up on deep nesting with a RecursionError."""
    with pytest.raises(InvalidDescription, match="not JSON"):
        parse_description("[" * 100_000)


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
    """Any part of a real description replaced by any JSON value: parsed or refused cleanly."""
    payload = json.loads(FleetBridge(count=1).description_payload())
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(JSON_VALUES)

    try:
        parsed = parse_description(json.dumps(payload))
    except InvalidDescription:
        return
    assert isinstance(parsed, BridgeDescription)


@given(payload=st.binary(max_size=64) | st.text(max_size=64))
def test_random_payloads_are_no_description(payload: bytes | str) -> None:
    with pytest.raises(InvalidDescription):
        parse_description(payload)
