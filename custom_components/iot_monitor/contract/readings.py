"""Readings on the wire: one ``Reading`` for the stream and the spool, a payload for states.

The stream (``<root>/<bridge>/stream``) carries every reading, replays included, as a JSON
array of readings, each itself an array: ``[device, sensor, value, ts, seq]``. A state topic
carries one object, ``{"v": value, "ts": epoch_ms, "seq": n}``, for Home Assistant's MQTT
entities (their ``value_template`` reads ``value_json.v``).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import msgspec

Natural = Annotated[int, msgspec.Meta(ge=0)]


class Reading(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One value of one sensor at one event time.

    ``seq`` is the bridge's number for the reading, given when it enters the spool (``-1``
    before that): it orders the stream and identifies duplicates. ``ts_ms`` is event time in
    epoch milliseconds (the Pi's wall clock), not publish time.
    """

    device_id: str
    sensor_id: str
    value: Any
    ts_ms: Natural
    seq: Natural = -1


class InvalidPayloadError(ValueError):
    """A payload that is not what the contract says; the reader counts it and goes on."""


_STREAM_ENCODER = msgspec.json.Encoder()
_STREAM_DECODER = msgspec.json.Decoder(list[Reading])


class _State(msgspec.Struct, frozen=True, gc=False):
    v: Any
    ts: int
    seq: int


def encode_stream(readings: list[Reading]) -> bytes:
    """Return one stream message for ``readings`` (values must be finite, as the spool's are)."""
    return _STREAM_ENCODER.encode(readings)


def decode_stream(payload: bytes | bytearray | str) -> list[Reading]:
    """Return the readings of one stream message; raise ``InvalidPayloadError`` if it is not one.

    Every reading on the stream has its ``seq`` (the spool numbers it before it is sent): one
    without is refused, not given ``Reading``'s ``-1`` that would make it a duplicate of the next.
    """
    try:
        readings = _STREAM_DECODER.decode(payload)
    except msgspec.DecodeError as err:  # ValidationError is a DecodeError
        raise InvalidPayloadError(str(err)) from None
    for index, reading in enumerate(readings):
        if reading.seq < 0:
            raise InvalidPayloadError(f"Expected a seq - at `$[{index}]`")
    return readings


def encode_state(reading: Reading) -> bytes:
    """Return the state-topic payload of ``reading``: ``{"v", "ts", "seq"}``."""
    return _STREAM_ENCODER.encode(_State(reading.value, reading.ts_ms, reading.seq))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """Return ``json.loads(text)`` without Python's extensions: ``NaN`` and ``Infinity`` fail."""
    return json.loads(text, parse_constant=_reject_constant)


def numeric_value(value: Any) -> float | None:
    """Return ``value`` as a finite float, or ``None`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # integers beyond float range
        return None
    return number if math.isfinite(number) else None
