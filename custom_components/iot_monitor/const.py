"""Constants of the iot_monitor integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "iot_monitor"
LOGGER = logging.getLogger(__package__)

ZEROCONF_TYPE: Final = "_iot-monitor._tcp.local."
DEFAULT_TOPIC_ROOT: Final = "iot_monitor"
DESCRIPTION_SUBSCRIPTION: Final = "iot_monitor/+/description"
"""Where bridges with the default topic root publish their retained description."""

CONF_BRIDGE_ID: Final = "bridge_id"
CONF_TOPIC_ROOT: Final = "topic_root"
