"""Diagnostics: the entry's settings and what the coordinator knows about its bridge."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_HOST
from .coordinator import IotMonitorConfigEntry

TO_REDACT: Final = {CONF_HOST, CONF_PASSWORD, CONF_USERNAME}
"""Redacted wherever they appear. The bridge's address says where it sits on the network;
credentials are the MQTT integration's, kept out in case a later version holds any. The
broker in use stays visible: it is what failover problems are diagnosed with."""


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IotMonitorConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    loaded = entry.state is ConfigEntryState.LOADED
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "bridge": entry.runtime_data.diagnostics() if loaded else None,
        },
        TO_REDACT,
    )
