"""Device triggers of a threshold's device: above its upper limit, below its lower, back in range.

They listen to ``EVENT_THRESHOLD``, which only live windows fire: a change that a replay after
an outage brings does not trigger automations (docs/integration.md, "Thresholds").
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import CONF_LOWER, CONF_UPPER, DOMAIN, EVENT_THRESHOLD
from .thresholds import Status

TRIGGER_TYPES = frozenset(status.value for status in Status)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {probatio.Required(CONF_TYPE): probatio.In(TRIGGER_TYPES)}
)


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """List the triggers of a threshold's device: one per limit it has, and back in range."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None or device.config_subentry_id is None:
        return []  # not a threshold's device
    entry = hass.config_entries.async_get_known_entry(device.config_entry_id)
    data = entry.subentries[device.config_subentry_id].data
    limits = {Status.ABOVE: data.get(CONF_UPPER), Status.BELOW: data.get(CONF_LOWER)}
    types = [status for status, limit in limits.items() if limit is not None]
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: status.value,
        }
        for status in (*types, Status.IN_RANGE)
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the threshold event of this device and type."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_THRESHOLD,
            CONF_EVENT_DATA: {
                CONF_DEVICE_ID: config[CONF_DEVICE_ID],
                CONF_TYPE: config[CONF_TYPE],
            },
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
