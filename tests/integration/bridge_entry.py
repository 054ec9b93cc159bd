"""Set up a bridge's config entry, feed it readings and find what it made, for the HA tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt.const import CONFIG_ENTRY_MINOR_VERSION, CONFIG_ENTRY_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.iot_monitor.const import (
    CONF_BRIDGE_ID,
    CONF_LATENESS,
    CONF_TOPIC_ROOT,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DOMAIN,
)
from custom_components.iot_monitor.coordinator import (
    BridgeCoordinator,
    bridge_unique_id,
    statistic_unique_id,
)
from iot_monitor_bridge.contract.ids import device_identifier, unique_id
from iot_monitor_bridge.contract.readings import Reading, encode_stream
from iot_monitor_bridge.model import JsonValue
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge
from tests.support.mosquitto import Mosquitto

T0_MS = 1_795_852_800_000
"""2026-11-28T08:00:00Z: an event time for tests whose readings must look current."""

SLIDING_5S: dict[str, Any] = {
    CONF_WINDOW_KIND: "sliding",
    CONF_WINDOW_LENGTH: 5.0,
    CONF_LATENESS: 0.0,
}
"""Options for a 5 s sliding window without lateness: every reading updates the statistics."""


async def async_setup_real_mqtt(hass: HomeAssistant, broker: Mosquitto) -> MockConfigEntry:
    """Home Assistant's MQTT integration connected over TCP to a real broker."""
    mqtt_entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": broker.host, "port": broker.port},
        version=CONFIG_ENTRY_VERSION,
        minor_version=CONFIG_ENTRY_MINOR_VERSION,
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    return mqtt_entry


def add_bridge_entry(
    hass: HomeAssistant, bridge: FleetBridge, options: dict[str, Any] | None = None, **data: str
) -> MockConfigEntry:
    """The config entry the config flow makes for ``bridge`` (``data`` added), not set up yet."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=bridge.name,
        unique_id=bridge.bridge_id,
        data={CONF_BRIDGE_ID: bridge.bridge_id, CONF_TOPIC_ROOT: bridge.topic_root} | data,
        options=dict(options or {}),  # a copy: tests share option dicts such as SLIDING_5S
    )
    entry.add_to_hass(hass)
    return entry


async def async_setup_bridge(
    hass: HomeAssistant,
    broker: RetainedBroker,
    bridge: FleetBridge,
    options: dict[str, Any] | None = None,
    entry: MockConfigEntry | None = None,
) -> MockConfigEntry:
    """Set up the bridge's entry; return once the broker replayed what it retains."""
    if entry is None:
        entry = add_bridge_entry(hass, bridge, options)
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


def description_of_contract(bridge: FleetBridge, contract: int | None) -> str:
    """``bridge``'s description as a bridge speaking ``contract`` would publish it.

    ``None`` is a version 1 bridge: it had ``"schema": 1`` and no ``contract``.
    """
    description = json.loads(bridge.description_payload())
    del description["contract"]
    if contract is None:
        return json.dumps({"schema": 1} | description)
    return json.dumps({"contract": contract} | description)


def fire_reading(
    hass: HomeAssistant,
    bridge: FleetBridge,
    device_id: str,
    sensor_id: str,
    value: JsonValue,
    ts_ms: int,
    seq: int,
) -> None:
    """Deliver one reading as the bridge publishes it: a stream message of one."""
    fire_stream(hass, bridge, [Reading(device_id, sensor_id, value, ts_ms, seq)])


def fire_stream(hass: HomeAssistant, bridge: FleetBridge, readings: list[Reading]) -> None:
    """Deliver one stream message carrying ``readings``."""
    async_fire_mqtt_message(hass, bridge.topics.stream, encode_stream(readings), 1)


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


async def async_run_timers_due_within(hass: HomeAssistant, seconds: float) -> None:
    """Run the timers that would have fired ``seconds`` from now, without freezing the clock
    (MQTT's own timers keep their real deadlines)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done()


def coordinator_of(entry: MockConfigEntry) -> BridgeCoordinator:
    """The coordinator of a loaded entry."""
    coordinator = entry.runtime_data
    assert isinstance(coordinator, BridgeCoordinator)
    return coordinator


def own_entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[er.RegistryEntry]:
    return er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)


def entity_id_of(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None, f"no {platform} entity for {unique_id}"
    return entity_id


def statistic_entity_id(
    hass: HomeAssistant, bridge: FleetBridge, device_id: str, sensor_id: str, statistic: str
) -> str:
    unique_id = statistic_unique_id(bridge.bridge_id, device_id, sensor_id, statistic)
    return entity_id_of(hass, "sensor", unique_id)


def bridge_entity_id(hass: HomeAssistant, bridge: FleetBridge, platform: str, key: str) -> str:
    """An entity about the bridge itself: its ``connectivity``."""
    return entity_id_of(hass, platform, bridge_unique_id(bridge.bridge_id, key))


def raw_entity_id(
    hass: HomeAssistant, bridge: FleetBridge, device_id: str, item_id: str, platform: str = "sensor"
) -> str:
    """The entity MQTT discovery made for one of the bridge's raw sensors or outputs."""
    raw_unique_id = unique_id(bridge.bridge_id, device_id, item_id)
    entity_id = er.async_get(hass).async_get_entity_id(platform, "mqtt", raw_unique_id)
    assert entity_id is not None, f"no MQTT {platform} entity for {raw_unique_id}"
    return entity_id


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def mqtt_device(hass: HomeAssistant, bridge: FleetBridge, device_id: str) -> dr.DeviceEntry:
    """The device MQTT discovery made for one of the bridge's devices (exactly one)."""
    identifier = ("mqtt", device_identifier(bridge.bridge_id, device_id))
    devices = dr.async_get(hass).async_get_devices(identifiers={identifier})
    assert len(devices) == 1, devices
    return devices[0]
