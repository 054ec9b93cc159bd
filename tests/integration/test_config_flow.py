"""The config flow: zeroconf and MQTT discovery, manual setup, reconfigure and options."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_MQTT,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_monitor import config_flow
from custom_components.iot_monitor.const import (
    ALL_STATISTICS,
    CONF_BRIDGE_ID,
    CONF_HOST,
    CONF_LATENESS,
    CONF_STATISTICS,
    CONF_THROTTLE,
    CONF_TOPIC_ROOT,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DEFAULT_OPTIONS,
    DOMAIN,
    WINDOW_SLIDING,
)
from custom_components.iot_monitor.contract.topics import DESCRIPTION_SUBSCRIPTION
from iot_monitor_bridge.runtime.announce import SERVICE_TYPE, build_txt, instance_name
from tests.integration.bridge_entry import (
    add_bridge_entry,
    async_setup_bridge,
    description_of_contract,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

MOVED = FleetBridge(topic_root="site/lab")
"""A bridge outside the default topic root, where MQTT discovery does not look."""

OTHER_CONTRACTS = pytest.mark.parametrize(
    ("contract", "reason"),
    [(None, "update_bridge"), (1, "update_bridge"), (3, "update_integration")],
    ids=["v1_schema_only", "contract_1", "contract_3"],
)
"""Descriptions of another contract version and the side the flow tells the user to update."""


@pytest.fixture(autouse=True)
def short_retained_wait() -> Iterator[None]:
    """The test broker replays retained messages at once; don't wait half a second for more."""
    with patch.object(config_flow, "RETAINED_QUIET", 0.02):
        yield


async def assert_translated(hass: HomeAssistant, result: FlowResult[Any, Any]) -> None:
    """The step, abort reason or errors of ``result`` have English and Indonesian text."""
    category = "options" if result["handler"] != DOMAIN else "config"
    prefix = f"component.{DOMAIN}.{category}"
    if result["type"] is FlowResultType.ABORT:
        if result.get("translation_domain") not in (None, DOMAIN):
            return  # Home Assistant's own text, such as reconfigure_successful
        keys = [f"{prefix}.abort.{result['reason']}"]
    elif result["type"] is FlowResultType.FORM:
        keys = [f"{prefix}.step.{result['step_id']}.description"]
        keys += [f"{prefix}.error.{error}" for error in (result.get("errors") or {}).values()]
    else:
        return
    for language in ("en", "id"):
        strings = await async_get_translations(hass, language, category, [DOMAIN])
        assert [key for key in keys if key not in strings] == [], language


def zeroconf_info(bridge: FleetBridge, **properties: str) -> ZeroconfServiceInfo:
    """The bridge's announcement (runtime/announce.py) while it uses the broker at
    192.168.1.10:1883, with ``properties`` overriding its TXT."""
    txt = build_txt(
        bridge_id=bridge.bridge_id,
        name=bridge.name,
        version=bridge.version,
        topic_root=bridge.topic_root,
        discovery_prefix=bridge.discovery_prefix,
        broker=("192.168.1.10", 1883),
    )
    return ZeroconfServiceInfo(
        ip_address=ip_address("192.168.1.50"),
        ip_addresses=[ip_address("192.168.1.50")],
        port=8765,
        hostname="lab-pi.local.",
        type=SERVICE_TYPE,
        name=f"{instance_name(bridge.name, bridge.bridge_id)}.{SERVICE_TYPE}",
        properties=txt | properties,
    )


def mqtt_info(topic: str, payload: str | bytes) -> MqttServiceInfo:
    return MqttServiceInfo(
        topic=topic,
        payload=payload,
        qos=1,
        retain=True,
        subscribed_topic=DESCRIPTION_SUBSCRIPTION,
        timestamp=0.0,
    )


async def start(hass: HomeAssistant, source: str, data: Any = None) -> FlowResult[Any, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": source}, data=data
    )
    await assert_translated(hass, result)
    return result


def suggested_values(result: FlowResult[Any, Any]) -> dict[str, Any]:
    """What the form's fields show when it opens."""
    return {str(key): key.description["suggested_value"] for key in result["data_schema"].schema}


async def submit(
    hass: HomeAssistant, result: FlowResult[Any, Any], user_input: dict[str, Any]
) -> FlowResult[Any, Any]:
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    await assert_translated(hass, result)
    return result


# Zeroconf


@pytest.mark.parametrize("bridge", [MOVED])
@pytest.mark.usefixtures("described")
async def test_zeroconf_shows_name_and_device_count_then_creates_entry(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    """A bridge outside the default topic root, which only zeroconf can find."""
    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {
        "name": "Lab Pi",
        "bridge_id": "lab-pi",
        "devices": "8",
    }
    progress = hass.config_entries.flow.async_get(result["flow_id"])
    assert progress["context"]["title_placeholders"] == {"name": "Lab Pi"}
    assert progress["context"]["confirm_only"] is True

    result = await submit(hass, result, {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Lab Pi"
    assert result["data"] == {
        CONF_BRIDGE_ID: "lab-pi",
        CONF_TOPIC_ROOT: "site/lab",
        CONF_HOST: "192.168.1.50",
    }
    assert result["result"].unique_id == "lab-pi"


async def test_zeroconf_updates_a_configured_bridge_instead_of_adding_it_again(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    entry = add_bridge_entry(hass, bridge, **{CONF_HOST: "192.168.1.7"})

    moved = zeroconf_info(bridge, topic_root="moved")
    result = await start(hass, SOURCE_ZEROCONF, moved)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == {
        CONF_BRIDGE_ID: "lab-pi",
        CONF_TOPIC_ROOT: "moved",
        CONF_HOST: "192.168.1.50",
    }
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.parametrize(
    "properties",
    [
        {"id": ""},
        {"id": "lab/+"},
        {"id": "Lab-Pi"},
        {"topic_root": "iot_monitor/#"},
        {"topic_root": "/iot_monitor"},
    ],
)
async def test_zeroconf_aborts_on_a_record_that_names_no_usable_bridge(
    hass: HomeAssistant, bridge: FleetBridge, properties: dict[str, str]
) -> None:
    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge, **properties))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_zeroconf_without_a_topic_root_uses_the_default(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    entry = add_bridge_entry(hass, bridge, **{CONF_TOPIC_ROOT: "elsewhere"})

    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge, topic_root=""))

    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == "iot_monitor"


async def test_zeroconf_aborts_when_mqtt_is_not_set_up(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


async def test_zeroconf_aborts_when_mqtt_is_disconnected(
    hass: HomeAssistant, mqtt_mock: MagicMock, bridge: FleetBridge
) -> None:
    mqtt_mock.connected = False

    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


@pytest.mark.usefixtures("mqtt_mock")
async def test_zeroconf_names_the_broker_when_the_description_is_not_on_ours(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> None:
    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "description_unavailable"
    assert result["description_placeholders"] == {"name": "Lab Pi", "broker": "192.168.1.10:1883"}

    disconnected = zeroconf_info(bridge, name="", broker_host="", broker_port="")
    result = await start(hass, SOURCE_ZEROCONF, disconnected)

    assert result["description_placeholders"] == {"name": "lab-pi", "broker": "?"}


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        json.dumps({"contract": 2, "id": "lab-pi"}),  # this contract, but no description
        FleetBridge(bridge_id="other", topic_root="site/lab").description_payload(),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_zeroconf_aborts_on_a_description_it_cannot_use(
    hass: HomeAssistant, broker: RetainedBroker, payload: str
) -> None:
    broker.publish(MOVED.description_topic, payload)

    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(MOVED))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


@OTHER_CONTRACTS
@pytest.mark.usefixtures("mqtt_mock")
async def test_zeroconf_says_which_side_to_update_for_another_contract(
    hass: HomeAssistant, broker: RetainedBroker, contract: int | None, reason: str
) -> None:
    broker.publish(MOVED.description_topic, description_of_contract(MOVED, contract))

    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(MOVED))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.usefixtures("described")
async def test_a_bridge_found_by_mqtt_and_zeroconf_is_offered_once(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    await hass.async_block_till_done()

    result = await start(hass, SOURCE_ZEROCONF, zeroconf_info(bridge))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_MQTT]


# MQTT discovery


async def test_mqtt_discovery_of_a_retained_description_offers_the_bridge(
    hass: HomeAssistant, described: RetainedBroker
) -> None:
    """The manifest's ``mqtt`` topic makes the MQTT integration start the flow."""
    await described.wait_for_subscription(DESCRIPTION_SUBSCRIPTION)
    await hass.async_block_till_done()

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [(flow["context"]["source"], flow["step_id"]) for flow in flows] == [
        (SOURCE_MQTT, "confirm")
    ]
    result = await submit(hass, flows[0], {})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Lab Pi"
    assert result["data"] == {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"}


async def test_mqtt_discovery_aborts_when_the_bridge_withdraws_its_description(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    result = await start(hass, SOURCE_MQTT, mqtt_info(bridge.description_topic, ""))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "bridge_removed"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("iot_monitor/lab-pi/description", b"\xff\xfe"),
        ("iot_monitor/lab-pi/description", "[]"),
        ("iot_monitor/spoofed/description", FleetBridge().description_payload()),
    ],
)
async def test_mqtt_discovery_aborts_on_an_invalid_description(
    hass: HomeAssistant, topic: str, payload: str | bytes
) -> None:
    result = await start(hass, SOURCE_MQTT, mqtt_info(topic, payload))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


@OTHER_CONTRACTS
async def test_mqtt_discovery_says_which_side_to_update_for_another_contract(
    hass: HomeAssistant, bridge: FleetBridge, contract: int | None, reason: str
) -> None:
    payload = description_of_contract(bridge, contract)

    result = await start(hass, SOURCE_MQTT, mqtt_info(bridge.description_topic, payload))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.usefixtures("mqtt_mock")
async def test_mqtt_discovery_accepts_a_bytes_payload_and_updates_a_configured_bridge(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    """Nothing is retained at the old root: the bridge is not online there, so it moved."""
    entry = add_bridge_entry(hass, bridge, **{CONF_TOPIC_ROOT: "old_root"})
    payload = bridge.description_payload().encode()

    result = await start(hass, SOURCE_MQTT, mqtt_info(bridge.description_topic, payload))

    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == "iot_monitor"


@pytest.mark.parametrize(
    ("availability", "topic_root"),
    [("online", "site/lab"), ("offline", "iot_monitor"), (None, "iot_monitor")],
    ids=["online_there", "offline_there", "never_heard_there"],
)
@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "not_loaded"])
@pytest.mark.usefixtures("mqtt_mock")
async def test_mqtt_discovery_moves_an_entry_only_if_its_bridge_is_not_online(
    hass: HomeAssistant,
    broker: RetainedBroker,
    bridge: FleetBridge,
    availability: str | None,
    topic_root: str,
    loaded: bool,
) -> None:
    """A description left retained at a former topic root must not undo a reconfiguration
    while the bridge is online at its new one.

    The flow asks the broker, not the entry: the retained availability at the entry's topic
    root decides, also for an entry that is not loaded and so has heard nothing.
    """
    if availability is not None:
        broker.publish(MOVED.topics.availability, availability)
    if loaded:
        entry = await async_setup_bridge(hass, broker, MOVED)
    else:
        entry = add_bridge_entry(hass, MOVED)
    subscribed = broker.subscriptions[MOVED.topics.availability]
    stale = mqtt_info(bridge.description_topic, bridge.description_payload())

    result = await start(hass, SOURCE_MQTT, stale)
    await hass.async_block_till_done()  # a changed entry reloads in the background

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == topic_root
    # The flow subscribed to the availability at the entry's root itself, to read it.
    assert broker.subscriptions[MOVED.topics.availability] > subscribed
    if loaded:
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.topics.base == f"{topic_root}/lab-pi"
    else:
        assert entry.state is ConfigEntryState.NOT_LOADED


async def test_mqtt_discovery_leaves_the_entry_where_it_is_when_it_cannot_ask_the_broker(
    hass: HomeAssistant, mqtt_mock: MagicMock, bridge: FleetBridge
) -> None:
    """Whether the bridge is online at the entry's root is unknown then: nothing moves."""
    entry = add_bridge_entry(hass, MOVED)
    mqtt_mock.connected = False
    stale = mqtt_info(bridge.description_topic, bridge.description_payload())

    result = await start(hass, SOURCE_MQTT, stale)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == "site/lab"


async def test_mqtt_discovery_leaves_the_entry_where_it_is_while_mqtt_is_not_set_up(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    """A flow MQTT discovery started can outlive MQTT's entry: no crash, nothing moves."""
    entry = add_bridge_entry(hass, MOVED)
    stale = mqtt_info(bridge.description_topic, bridge.description_payload())

    result = await start(hass, SOURCE_MQTT, stale)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == "site/lab"


@pytest.mark.usefixtures("mqtt_mock")
async def test_mqtt_discovery_at_the_entry_s_own_root_does_not_ask_for_its_availability(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> None:
    """Nothing would move: the flow reads no availability."""
    broker.publish(bridge.topics.availability, "online")
    entry = add_bridge_entry(hass, bridge)

    fresh = mqtt_info(bridge.description_topic, bridge.description_payload())
    result = await start(hass, SOURCE_MQTT, fresh)

    assert result["reason"] == "already_configured"
    assert entry.data[CONF_TOPIC_ROOT] == "iot_monitor"
    assert broker.subscriptions[bridge.topics.availability] == 0


# Manual setup


@pytest.mark.usefixtures("mqtt_mock")
async def test_user_picks_one_of_the_bridges_seen_on_mqtt(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> None:
    configured = FleetBridge(bridge_id="configured", name="Configured")
    other = FleetBridge(bridge_id="barn", name="Barn", count=2)
    for seen in (bridge, configured, other):
        broker.publish_description(seen)
    broker.publish("iot_monitor/garbage/description", "not json")
    add_bridge_entry(hass, configured)

    result = await start(hass, SOURCE_USER)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"seen": "2"}
    selector = result["data_schema"].schema[CONF_BRIDGE_ID].config
    assert selector["options"] == [
        {"value": "lab-pi", "label": "Lab Pi (lab-pi)"},
        {"value": "barn", "label": "Barn (barn)"},
    ]
    assert selector["custom_value"] is True

    result = await submit(hass, result, {CONF_BRIDGE_ID: "barn", CONF_TOPIC_ROOT: "iot_monitor"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Barn"
    assert result["data"] == {CONF_BRIDGE_ID: "barn", CONF_TOPIC_ROOT: "iot_monitor"}
    assert result["result"].unique_id == "barn"


@pytest.mark.usefixtures("mqtt_mock")
async def test_user_types_a_bridge_under_another_topic_root(
    hass: HomeAssistant, broker: RetainedBroker
) -> None:
    bridge = FleetBridge(bridge_id="barn", name="Barn", topic_root="farm/sensors")
    broker.publish_description(bridge)

    result = await start(hass, SOURCE_USER)
    assert result["description_placeholders"] == {"seen": "0"}
    result = await submit(
        hass, result, {CONF_BRIDGE_ID: " barn ", CONF_TOPIC_ROOT: "farm/sensors/"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_BRIDGE_ID: "barn", CONF_TOPIC_ROOT: "farm/sensors"}


async def test_user_sees_why_a_bridge_was_refused_and_can_correct_it(
    hass: HomeAssistant, described: RetainedBroker
) -> None:
    # This contract, but not a description; and bridges of an older and a newer contract.
    described.publish("iot_monitor/broken/description", json.dumps({"contract": 2}))
    for bridge_id, contract in (("old", None), ("older", 1), ("newer", 3)):
        described.publish(
            f"iot_monitor/{bridge_id}/description",
            description_of_contract(FleetBridge(bridge_id=bridge_id), contract),
        )
    result = await start(hass, SOURCE_USER)
    assert result["description_placeholders"] == {"seen": "1"}  # only lab-pi can be added

    attempts = [
        (
            {CONF_BRIDGE_ID: "lab-pi/#", CONF_TOPIC_ROOT: "a+b"},
            {
                CONF_BRIDGE_ID: "invalid_bridge_id",
                CONF_TOPIC_ROOT: "invalid_topic_root",
            },
        ),
        (  # the bridge refuses "_" in its id (discovery object ids are <bridge>_<device>)
            {CONF_BRIDGE_ID: "lab_pi", CONF_TOPIC_ROOT: "iot_monitor"},
            {CONF_BRIDGE_ID: "invalid_bridge_id"},
        ),
        ({CONF_BRIDGE_ID: "nowhere", CONF_TOPIC_ROOT: "iot_monitor"}, {"base": "bridge_not_found"}),
        (
            {CONF_BRIDGE_ID: "broken", CONF_TOPIC_ROOT: "iot_monitor"},
            {"base": "invalid_description"},
        ),
        ({CONF_BRIDGE_ID: "old", CONF_TOPIC_ROOT: "iot_monitor"}, {"base": "update_bridge"}),
        ({CONF_BRIDGE_ID: "older", CONF_TOPIC_ROOT: "iot_monitor"}, {"base": "update_bridge"}),
        (
            {CONF_BRIDGE_ID: "newer", CONF_TOPIC_ROOT: "iot_monitor"},
            {"base": "update_integration"},
        ),
    ]
    for user_input, errors in attempts:
        result = await submit(hass, result, user_input)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors
        assert suggested_values(result) == user_input

    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("described")
async def test_user_cannot_add_a_configured_bridge_twice(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    add_bridge_entry(hass, bridge)
    result = await start(hass, SOURCE_USER)

    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("described")
async def test_user_can_add_a_bridge_that_was_ignored(hass: HomeAssistant) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id="lab-pi", source=SOURCE_IGNORE).add_to_hass(hass)

    result = await start(hass, SOURCE_USER)
    assert result["description_placeholders"] == {"seen": "1"}
    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"})

    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_is_told_when_mqtt_is_disconnected(
    hass: HomeAssistant, mqtt_mock: MagicMock
) -> None:
    mqtt_mock.connected = False

    result = await start(hass, SOURCE_USER)
    assert result["errors"] == {"base": "cannot_connect"}
    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"})

    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_is_told_when_the_broker_never_acknowledges(
    hass: HomeAssistant, mqtt_mock: MagicMock
) -> None:
    """The connection drops between the check and the subscription: nothing is ever sent."""
    mqtt_mock.connected = False
    with (
        patch.object(config_flow.mqtt, "is_connected", return_value=True),
        patch.object(config_flow, "SUBSCRIBE_TIMEOUT", 0.01),
    ):
        result = await start(hass, SOURCE_USER)

    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_aborts_when_mqtt_is_not_set_up(hass: HomeAssistant) -> None:
    result = await start(hass, SOURCE_USER)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


@pytest.mark.usefixtures("described")
async def test_user_stops_listening_when_descriptions_keep_coming(hass: HomeAssistant) -> None:
    with (
        patch.object(config_flow, "RETAINED_QUIET", 60.0),
        patch.object(config_flow, "RETAINED_LIMIT", 0.05),
    ):
        result = await asyncio.wait_for(start(hass, SOURCE_USER), timeout=5)

    assert result["description_placeholders"] == {"seen": "1"}


async def test_user_does_not_list_a_bridge_removed_while_listening(
    hass: HomeAssistant, described: RetainedBroker
) -> None:
    leaving = FleetBridge(bridge_id="leaving", name="Leaving")
    described.publish_description(leaving)
    with patch.object(config_flow, "RETAINED_QUIET", 0.5):
        flow = hass.async_create_task(start(hass, SOURCE_USER))
        # Two subscriptions: MQTT discovery's and the flow's.
        await described.wait_for_subscription(DESCRIPTION_SUBSCRIPTION, times=2)
        described.publish(leaving.description_topic, "")
        result = await flow

    selector = result["data_schema"].schema[CONF_BRIDGE_ID].config
    assert [option["value"] for option in selector["options"]] == ["lab-pi"]


# Reconfigure


async def start_reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult[Any, Any]:
    result = await entry.start_reconfigure_flow(hass)
    await assert_translated(hass, result)
    return result


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_moves_the_entry_to_a_new_topic_root(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> None:
    broker.publish_description(MOVED)
    entry = add_bridge_entry(hass, bridge, **{CONF_HOST: "192.168.1.50"})

    result = await start_reconfigure(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": "Lab Pi"}
    shown = suggested_values(result)
    assert shown == {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"}

    result = await submit(hass, result, {CONF_BRIDGE_ID: "nowhere", CONF_TOPIC_ROOT: "site/lab"})
    assert result["errors"] == {"base": "bridge_not_found"}
    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "site/lab"})
    await hass.async_block_till_done()  # the entry reloads in the background

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_BRIDGE_ID: "lab-pi",
        CONF_TOPIC_ROOT: "site/lab",
        CONF_HOST: "192.168.1.50",
    }
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_refuses_to_switch_to_another_bridge(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> None:
    other = FleetBridge(bridge_id="barn", name="Barn")
    broker.publish_description(other)
    entry = add_bridge_entry(hass, bridge)

    result = await start_reconfigure(hass, entry)
    result = await submit(hass, result, {CONF_BRIDGE_ID: "barn", CONF_TOPIC_ROOT: "iot_monitor"})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert result["description_placeholders"] == {"bridge_id": "barn"}
    assert entry.data[CONF_BRIDGE_ID] == "lab-pi"


async def test_reconfigure_of_a_running_bridge_reads_the_topic_its_coordinator_holds(
    hass: HomeAssistant, described: RetainedBroker, bridge: FleetBridge
) -> None:
    """The flow and the coordinator share the description subscription; both must be answered."""
    entry = await async_setup_bridge(hass, described, bridge)

    result = await start_reconfigure(hass, entry)
    result = await submit(hass, result, {CONF_BRIDGE_ID: "lab-pi", CONF_TOPIC_ROOT: "iot_monitor"})
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_aborts_when_mqtt_is_not_set_up(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    entry = add_bridge_entry(hass, bridge)

    result = await start_reconfigure(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# Options


async def test_options_start_from_the_defaults_and_are_saved(
    hass: HomeAssistant, bridge: FleetBridge
) -> None:
    entry = add_bridge_entry(hass, bridge)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    await assert_translated(hass, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    shown = suggested_values(result)
    assert shown == dict(DEFAULT_OPTIONS)
    statistics = result["data_schema"].schema[CONF_STATISTICS].config
    assert statistics["options"] == list(ALL_STATISTICS)
    assert statistics["multiple"] is True

    chosen = {
        CONF_WINDOW_KIND: WINDOW_SLIDING,
        CONF_WINDOW_LENGTH: 60,
        CONF_LATENESS: 0,
        CONF_STATISTICS: ["mean", "stdev"],
        CONF_THROTTLE: 0.5,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], chosen)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == chosen

    result = await hass.config_entries.options.async_init(entry.entry_id)
    shown = suggested_values(result)
    assert shown == chosen


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (CONF_WINDOW_KIND, "hopping"),
        (CONF_WINDOW_LENGTH, 0),
        (CONF_WINDOW_LENGTH, 3601),
        (CONF_LATENESS, -1),
        (CONF_STATISTICS, ["median"]),
        (CONF_THROTTLE, 0.05),
        (CONF_THROTTLE, 61),
    ],
)
async def test_options_out_of_range_are_refused(
    hass: HomeAssistant, bridge: FleetBridge, key: str, value: Any
) -> None:
    entry = add_bridge_entry(hass, bridge)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    with pytest.raises(InvalidData, match=key):
        await hass.config_entries.options.async_configure(
            result["flow_id"], dict(DEFAULT_OPTIONS) | {key: value}
        )

    assert entry.options == {}
