"""The iot-monitor integration: rolling statistics for the sensors of Raspberry Pi bridges.

The bridge's raw sensors reach Home Assistant through MQTT discovery; this integration
reads the bridge's description and its stream of every reading from the same broker and adds
statistics and connectivity to the same devices. Its actions drive bridges through their
command channel (services.py).
"""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .cards import async_register_cards
from .const import DOMAIN
from .coordinator import BridgeCoordinator, IotMonitorConfigEntry
from .services import async_setup_services, async_start_channel

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, _config: ConfigType) -> bool:
    """Register the actions once, so automations that use them validate with no bridge loaded.

    The cards too: a dashboard can show them before any bridge is set up.
    """
    async_setup_services(hass)
    await async_register_cards(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IotMonitorConfigEntry) -> bool:
    """Set up one bridge: platforms first, so the retained description finds them listening."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_available")
    coordinator = BridgeCoordinator(hass, entry)
    entry.runtime_data = coordinator
    entry.async_on_unload(coordinator.async_stop)
    await coordinator.history.async_start()
    entry.async_on_unload(coordinator.history.async_stop)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await coordinator.async_start()
    await async_start_channel(hass, entry)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IotMonitorConfigEntry) -> bool:
    """Unload the platforms; the coordinator unsubscribes through ``async_on_unload``."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
