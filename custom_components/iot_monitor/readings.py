"""Readings and state topics of a bridge, parsed (contract in docs/mqtt.md).

Pure: no Home Assistant imports. Malformed input yields ``None`` for the caller to count;
nothing here raises on what arrives from the network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, TypeGuard


@dataclass(frozen=True, slots=True)
class Reading:
    """One ``{"v": value, "ts": epoch_ms, "seq": n}`` payload."""

    value: Any
    ts_ms: int
    seq: int


def _natural(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_reading(payload: str | bytes | bytearray) -> Reading | None:
    """The reading in ``payload``, or ``None`` if it is not one."""
    try:
        data = json.loads(payload)
    except ValueError, UnicodeDecodeError, RecursionError:
        return None
    if not isinstance(data, dict) or "v" not in data:
        return None
    ts_ms, seq = data.get("ts"), data.get("seq")
    if not _natural(ts_ms) or not _natural(seq):
        return None
    return Reading(data["v"], ts_ms, seq)


def numeric_value(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # integers beyond float range
        return None
    return number if math.isfinite(number) else None


def broker_text(value: Any) -> str | None:
    """The broker in use, published by the bridge as ``"host:port"``."""
    return value if isinstance(value, str) and value else None


def state_topic_ids(base_topic: str, topic: str) -> tuple[str, str] | None:
    """``(device_id, sensor_id)`` of ``<base_topic>/<device>/<sensor>/state``, else ``None``."""
    prefix = f"{base_topic}/"
    if not topic.startswith(prefix) or not topic.endswith("/state"):
        return None
    parts = topic[len(prefix) : -len("/state")].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
