"""Set up a bridge's config entry and feed it readings, for the runtime and platform tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.iot_monitor.bridge import statistic_unique_id
from custom_components.iot_monitor.const import CONF_BRIDGE_ID, CONF_TOPIC_ROOT, DOMAIN
from iot_monitor_bridge.model import JsonValue, Reading
from iot_monitor_bridge.protocol.payloads import encode_reading
from tests.integration.conftest import RetainedBroker
from tests.support.bridge_fleet import FleetBridge


def bridge_entry(bridge: FleetBridge, options: dict[str, Any] | None = None) -> MockConfigEntry:
    """The config entry the config flow makes for ``bridge``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=bridge.name,
        unique_id=bridge.bridge_id,
        data={CONF_BRIDGE_ID: bridge.bridge_id, CONF_TOPIC_ROOT: bridge.topic_root},
        options=options or {},
    )


async def async_setup_bridge(
    hass: HomeAssistant,
    broker: RetainedBroker,
    bridge: FleetBridge,
    options: dict[str, Any] | None = None,
    entry: MockConfigEntry | None = None,
) -> MockConfigEntry:
    """Set up the bridge's entry; return once the broker replayed what it retains."""
    if entry is None:
        entry = bridge_entry(bridge, options)
        entry.add_to_hass(hass)
    async with subscribed_again(hass, broker, bridge):
        assert await hass.config_entries.async_setup(entry.entry_id)
    return entry


@asynccontextmanager
async def subscribed_again(
    hass: HomeAssistant, broker: RetainedBroker, bridge: FleetBridge
) -> AsyncIterator[None]:
    """Wait, after the body, for the entry to subscribe to the description once more.

    The MQTT client batches subscriptions behind a timer: set entries up before freezing
    the clock, or it never fires.
    """
    times = broker.subscriptions[bridge.description_topic] + 1
    yield
    await broker.wait_for_subscription(bridge.description_topic, times)
    await hass.async_block_till_done()


def fire_reading(
    hass: HomeAssistant,
    bridge: FleetBridge,
    device_id: str,
    sensor_id: str,
    value: JsonValue,
    ts_ms: int,
    seq: int,
) -> None:
    """Deliver one reading as the bridge publishes it."""
    payload = encode_reading(Reading(device_id, sensor_id, value, ts_ms, seq))
    async_fire_mqtt_message(hass, bridge.topics.state(device_id, sensor_id), payload, 1)


def fire_series(
    hass: HomeAssistant,
    bridge: FleetBridge,
    device_id: str,
    sensor_id: str,
    values: list[float],
    *,
    start_ms: int = 0,
    step_ms: int = 1000,
    first_seq: int = 1,
) -> None:
    """Readings ``step_ms`` apart in event time, with consecutive seqs."""
    for n, value in enumerate(values):
        fire_reading(
            hass, bridge, device_id, sensor_id, value, start_ms + n * step_ms, first_seq + n
        )


async def async_pass_throttle(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 1.1
) -> None:
    """Let the state-write throttle's period end, so trailing writes happen."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def statistic_entity_id(
    hass: HomeAssistant, bridge: FleetBridge, device_id: str, sensor_id: str, statistic: str
) -> str:
    unique_id = statistic_unique_id(bridge.bridge_id, device_id, sensor_id, statistic)
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None, f"no entity for {unique_id}"
    return entity_id
