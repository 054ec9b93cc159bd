"""Constants of the iot_monitor integration."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

DOMAIN: Final = "iot_monitor"
LOGGER = logging.getLogger(__package__)

SUBSCRIBE_QOS: Final = 1
"""The QoS of every subscription to a bridge, the config flow's included: Home Assistant's
``mqtt.async_on_subscribe_done`` reports a topic at the highest QoS it is subscribed with, so
the flow must use the runtime's to see its SUBACK."""

CONF_BRIDGE_ID: Final = "bridge_id"
CONF_TOPIC_ROOT: Final = "topic_root"
CONF_HOST: Final = "host"
"""Address the bridge was last seen at (zeroconf); informational, the link is MQTT."""

# Options (options flow); defaults reproduce the streaming example: 10 s tumbling windows
# with 1 min allowed lateness.
CONF_WINDOW_KIND: Final = "window_kind"
CONF_WINDOW_LENGTH: Final = "window_length"
CONF_LATENESS: Final = "lateness"
CONF_STATISTICS: Final = "statistics"
CONF_THROTTLE: Final = "throttle"

WINDOW_TUMBLING: Final = "tumbling"
WINDOW_SLIDING: Final = "sliding"
DEFAULT_WINDOW_KIND: Final = WINDOW_TUMBLING
DEFAULT_WINDOW_LENGTH: Final = 10.0
DEFAULT_LATENESS: Final = 60.0
DEFAULT_THROTTLE: Final = 1.0

STAT_MEAN: Final = "mean"
STAT_MIN: Final = "min"
STAT_MAX: Final = "max"
STAT_STDEV: Final = "stdev"
STAT_COUNT: Final = "count"
STAT_RATE: Final = "rate_of_change"
ALL_STATISTICS: Final = (STAT_MEAN, STAT_MIN, STAT_MAX, STAT_STDEV, STAT_COUNT, STAT_RATE)
DEFAULT_STATISTICS: Final = ALL_STATISTICS
"""Every statistic gets an entity; stdev, count and rate of change start disabled."""
ENABLED_BY_DEFAULT: Final = frozenset({STAT_MEAN, STAT_MIN, STAT_MAX})

DEFAULT_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        CONF_WINDOW_KIND: DEFAULT_WINDOW_KIND,
        CONF_WINDOW_LENGTH: DEFAULT_WINDOW_LENGTH,
        CONF_LATENESS: DEFAULT_LATENESS,
        CONF_STATISTICS: list(DEFAULT_STATISTICS),
        CONF_THROTTLE: DEFAULT_THROTTLE,
    }
)
"""What an entry without saved options uses: ``{**DEFAULT_OPTIONS, **entry.options}``."""

OFFLINE_REPAIR_AFTER: Final = 600.0
"""Seconds a configured bridge may be offline before a repair issue is raised."""

# Thresholds: one config subentry each (docs/integration.md, "Thresholds").
SUBENTRY_THRESHOLD: Final = "threshold"
CONF_SENSOR: Final = "sensor"
"""``<device id>/<sensor id>``: ids cannot contain ``/``."""
CONF_STATISTIC: Final = "statistic"
CONF_LOWER: Final = "lower"
CONF_UPPER: Final = "upper"
CONF_HYSTERESIS: Final = "hysteresis"
CONF_REACTION: Final = "reaction"
"""The section of the optional commands: the four below and the cooldown."""
CONF_TRIP_COMMAND: Final = "trip_command"
CONF_TRIP_ARGUMENTS: Final = "trip_arguments"
CONF_CLEAR_COMMAND: Final = "clear_command"
CONF_CLEAR_ARGUMENTS: Final = "clear_arguments"
CONF_COOLDOWN: Final = "cooldown"
DEFAULT_COOLDOWN: Final = 60.0
EVENT_THRESHOLD: Final = f"{DOMAIN}_threshold"
"""Fired when a threshold's status changes on a live window (not on a replayed one)."""
