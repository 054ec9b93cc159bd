"""Ids and the identifiers built from them (documented in docs/mqtt.md)."""

from __future__ import annotations

import re
from typing import Final

ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""Device, sensor and output ids end up in topics and unique ids: lowercase, no slashes."""
BRIDGE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,63}$"
"""A bridge id has no underscore: discovery object ids are ``<bridge>_<device>``, and only this
keeps them unambiguous across bridges (bridge ``a`` + device ``b_c`` vs bridge ``a_b`` + ``c``)."""

TOPIC_ROOT_PATTERN: Final = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
"""``mqtt.topic_root``: levels of letters, digits, ``_`` and ``-``; no wildcards."""
DISCOVERY_PREFIX_PATTERN: Final = r"^[A-Za-z0-9_-]+$"

BRIDGE_DEVICE_ID: Final = "bridge"
"""Device id under which the bridge's own sensors (Pi health, broker in use) are published."""

MANUFACTURER: Final = "iot-monitor"


def device_identifier(bridge_id: str, device_id: str) -> str:
    """Return the Home Assistant device identifier (``mqtt`` domain) of a device.

    Parts are joined with ``/``, which no id may contain, so no two devices share one.
    """
    if device_id == BRIDGE_DEVICE_ID:
        return f"iot_monitor/{bridge_id}"
    return f"iot_monitor/{bridge_id}/{device_id}"


def object_id(bridge_id: str, device_id: str) -> str:
    """Return the discovery object id of a device: one retained config topic per device.

    Object ids allow only ``[A-Za-z0-9_-]``; bridge ids have no ``_``, so the first ``_``
    separates the bridge from the device.
    """
    return bridge_id if device_id == BRIDGE_DEVICE_ID else f"{bridge_id}_{device_id}"


def unique_id(bridge_id: str, device_id: str, item_id: str) -> str:
    """Return the unique id of a raw sensor or output: ``iot_monitor/<bridge>/<device>/<item>``."""
    return f"iot_monitor/{bridge_id}/{device_id}/{item_id}"


def bridge_of_identifier(identifier: str) -> str | None:
    """Return the bridge id in a ``device_identifier``, or ``None`` if it is not one."""
    prefix, _, rest = identifier.partition("/")
    bridge_id = rest.partition("/")[0]
    if prefix != "iot_monitor" or not re.fullmatch(BRIDGE_ID_PATTERN, bridge_id):
        return None
    return bridge_id
