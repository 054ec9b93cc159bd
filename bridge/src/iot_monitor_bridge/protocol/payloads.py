"""Reading payloads on the wire: ``{"v": value, "ts": epoch_ms, "seq": n}``."""

from __future__ import annotations

import json
from typing import Any

from iot_monitor_bridge.model import Reading


def encode_reading(reading: Reading) -> bytes:
    """Compact JSON; ``seq`` must already be assigned by the spool."""
    return json.dumps(
        {"v": reading.value, "ts": reading.ts_ms, "seq": reading.seq},
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` without Python's extensions: ``NaN`` and ``Infinity`` are refused."""
    return json.loads(text, parse_constant=_reject_constant)
