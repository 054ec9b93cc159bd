"""The repair issue for a bridge that stays offline, and its withdrawal when it returns."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.iot_monitor.const import DOMAIN, OFFLINE_REPAIR_AFTER
from tests.integration.bridge_entry import async_setup_bridge
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

ISSUE_ID = "bridge_offline_lab-pi"


async def async_run_timers_due_within(hass: HomeAssistant, seconds: float) -> None:
    """Run the timers that would have fired ``seconds`` from now (the clock is not frozen:
    MQTT's own timers must keep their real deadlines)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done()


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


async def test_bridge_going_offline(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """Only an outage longer than the threshold raises an issue; it goes when the bridge returns."""
    published.publish(bridge.topics.availability, "online")
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
