"""The repair issues: a bridge that stays offline, one that speaks another contract version,
and their withdrawal once the bridge is back or updated."""

from __future__ import annotations

from unittest.mock import MagicMock, patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockMqttReasonCode
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.iot_monitor.const import DOMAIN, OFFLINE_REPAIR_AFTER
from custom_components.iot_monitor.contract import CONTRACT_VERSION
from tests.integration.bridge_entry import (
    add_bridge_entry,
    async_run_timers_due_within,
    async_setup_bridge,
    coordinator_of,
    description_of_contract,
    own_entities,
    statistic_entity_id,
    subscribed_again,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

ISSUE_ID = "bridge_offline_lab-pi"


def offline_issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID)


@pytest.mark.usefixtures("entry")
async def test_never_seen_bridge_raises_an_issue_until_it_appears(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER - 10)
    assert offline_issue(hass) is None

    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER + 10)
    issue = offline_issue(hass)
    assert issue is not None
    assert issue.translation_key == "bridge_offline"
    assert issue.translation_placeholders == {"name": bridge.name}
    assert issue.severity is ir.IssueSeverity.WARNING
    assert not issue.is_fixable

    published.publish(bridge.topics.availability, "online")
    await hass.async_block_till_done()
    assert offline_issue(hass) is None


@pytest.mark.parametrize("availability", ["online"])
async def test_bridge_going_offline(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """Only an outage longer than the threshold raises an issue; it goes when the bridge returns."""
    with patch("custom_components.iot_monitor.coordinator.OFFLINE_REPAIR_AFTER", 30.0):
        await async_setup_bridge(hass, published, bridge)
        await async_run_timers_due_within(hass, 60)
        assert offline_issue(hass) is None  # online all along

        published.publish(bridge.topics.availability, "offline")
        await async_run_timers_due_within(hass, 20)
        published.publish(bridge.topics.availability, "online")  # back within the threshold
        await async_run_timers_due_within(hass, 60)
        assert offline_issue(hass) is None

        published.publish(bridge.topics.availability, "offline")
        await async_run_timers_due_within(hass, 20)
        assert offline_issue(hass) is None
        await async_run_timers_due_within(hass, 35)
        assert offline_issue(hass) is not None

        published.publish(bridge.topics.availability, "online")
        await hass.async_block_till_done()
        assert offline_issue(hass) is None


async def test_unloading_withdraws_the_issue(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER + 1)
    assert offline_issue(hass) is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert offline_issue(hass) is None
    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER + 1)
    assert offline_issue(hass) is None  # no timer left behind


@pytest.mark.parametrize(
    ("availability", "set_up_while_connected"),
    [(None, True), ("offline", True), (None, False)],
    ids=["never_heard", "said_offline", "set_up_while_disconnected"],
)
async def test_time_without_mqtt_does_not_count(
    hass: HomeAssistant,
    published: RetainedBroker,
    bridge: FleetBridge,
    mqtt_mock: MqttMockHAClient,
    mqtt_client_mock: MagicMock,
    set_up_while_connected: bool,
) -> None:
    """While Home Assistant's own MQTT client is disconnected the bridge is not to blame: no
    issue then, and the threshold counts from the reconnection."""
    if set_up_while_connected:
        await async_setup_bridge(hass, published, bridge)
    mqtt_mock.connected = False  # the harness mocks this flag: paho's callback leaves it be
    mqtt_client_mock.on_disconnect(None, None, 0, MockMqttReasonCode())
    await hass.async_block_till_done()
    if not set_up_while_connected:
        assert await hass.config_entries.async_setup(add_bridge_entry(hass, bridge).entry_id)
        await hass.async_block_till_done()

    await async_run_timers_due_within(hass, 2 * OFFLINE_REPAIR_AFTER)
    assert offline_issue(hass) is None

    async with subscribed_again(hass, published, bridge):  # the broker replays what it retains
        mqtt_mock.connected = True
        mqtt_client_mock.on_connect(None, None, None, MockMqttReasonCode())
    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER - 10)
    assert offline_issue(hass) is None
    await async_run_timers_due_within(hass, OFFLINE_REPAIR_AFTER + 10)
    assert offline_issue(hass) is not None


# Another contract version: say which side to update


CONTRACT_ISSUE_ID = "contract_mismatch_lab-pi"
OTHER_CONTRACTS = pytest.mark.parametrize(
    ("contract", "translation_key"),
    [(None, "update_bridge"), (1, "update_bridge"), (3, "update_integration")],
    ids=["v1_schema_only", "contract_1", "contract_3"],
)


def contract_issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, CONTRACT_ISSUE_ID)


@OTHER_CONTRACTS
async def test_another_contract_raises_an_issue_until_a_good_description_arrives(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    published: RetainedBroker,
    bridge: FleetBridge,
    contract: int | None,
    translation_key: str,
) -> None:
    """The statistics wait, neither removed nor fed a misread description."""
    before = {e.unique_id for e in own_entities(hass, entry)}
    assert contract_issue(hass) is None

    published.publish(bridge.description_topic, description_of_contract(bridge, contract))
    await hass.async_block_till_done()

    issue = contract_issue(hass)
    assert issue is not None
    assert issue.translation_key == translation_key
    assert issue.translation_placeholders == {
        "name": bridge.name,
        "bridge_contract": "1" if contract is None else str(contract),
        "integration_contract": str(CONTRACT_VERSION),
    }
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable
    assert {e.unique_id for e in own_entities(hass, entry)} == before
    coordinator = coordinator_of(entry)
    assert coordinator.diagnostics()["faults"] == {"contract_mismatch": 1}
    assert coordinator.description is not None
    assert coordinator.description.contract == CONTRACT_VERSION  # the last good one stays

    published.publish_description(bridge)  # the side was updated
    await hass.async_block_till_done()
    assert contract_issue(hass) is None
    assert {e.unique_id for e in own_entities(hass, entry)} == before


@OTHER_CONTRACTS
async def test_a_bridge_of_another_contract_at_setup_gets_statistics_once_updated(
    hass: HomeAssistant,
    broker: RetainedBroker,
    bridge: FleetBridge,
    mqtt_mock: MqttMockHAClient,
    contract: int | None,
    translation_key: str,
) -> None:
    """The retained description of an old (or newer) bridge: an issue, no statistics."""
    broker.publish(bridge.description_topic, description_of_contract(bridge, contract))
    for topic, payload in bridge.discovery_payloads().items():
        broker.publish(topic, payload)
    await hass.async_block_till_done()
    entry = await async_setup_bridge(hass, broker, bridge)

    issue = contract_issue(hass)
    assert issue is not None
    assert issue.translation_key == translation_key
    assert coordinator_of(entry).description is None
    assert coordinator_of(entry).tracks == {}
    assert {e.unique_id for e in own_entities(hass, entry)} == {"lab-pi/connectivity"}

    broker.publish_description(bridge)
    await hass.async_block_till_done()
    assert contract_issue(hass) is None
    assert coordinator_of(entry).tracks
    assert hass.states.get(statistic_entity_id(hass, bridge, "fleet_1", "temperature", "mean"))


async def test_unloading_withdraws_the_contract_issue(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    published.publish(bridge.description_topic, description_of_contract(bridge, 3))
    await hass.async_block_till_done()
    assert contract_issue(hass) is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert contract_issue(hass) is None


async def test_the_issues_are_translated(hass: HomeAssistant) -> None:
    """Title and description in both languages, with every placeholder the issue gives."""
    placeholders = {
        "bridge_offline": {"{name}"},
        "update_bridge": {"{name}", "{bridge_contract}", "{integration_contract}"},
        "update_integration": {"{name}", "{bridge_contract}", "{integration_contract}"},
    }
    for language in ("en", "id"):
        strings = await async_get_translations(hass, language, "issues", [DOMAIN])
        for key, wanted in placeholders.items():
            prefix = f"component.{DOMAIN}.issues.{key}"
            title, description = strings[f"{prefix}.title"], strings[f"{prefix}.description"]
            assert "{name}" in title, (language, key)
            assert {p for p in wanted if p in description} == wanted, (language, key)
