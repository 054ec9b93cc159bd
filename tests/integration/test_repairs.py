"""The repair issue for a bridge that stays offline, and its withdrawal when it returns."""

from __future__ import annotations

from unittest.mock import MagicMock, patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockMqttReasonCode
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.iot_monitor.const import DOMAIN, OFFLINE_REPAIR_AFTER
from tests.integration.bridge_entry import (
    add_bridge_entry,
    async_run_timers_due_within,
    async_setup_bridge,
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
    with patch("custom_components.iot_monitor.bridge.OFFLINE_REPAIR_AFTER", 30.0):
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
