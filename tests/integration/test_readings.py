"""The contract's readings on the wire: the stream the bridge encodes, and hostile input.

The integration reads every reading from the stream (``contract.readings.decode_stream``);
state topics are for Home Assistant's MQTT entities and are not read by the integration.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.iot_monitor.contract.readings import (
    InvalidPayloadError,
    Reading,
    decode_stream,
    encode_state,
    encode_stream,
    loads_strict,
    numeric_value,
)
from iot_monitor_bridge.contract import readings as bridge_readings

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
naturals = st.integers(min_value=0, max_value=2**64 - 1)
readings = st.builds(Reading, st.text(), st.text(), json_values, naturals, naturals)


def test_the_bridge_and_the_integration_share_one_reading() -> None:
    """The bridge imports the same module through its symlink, not a copy that could drift."""
    assert bridge_readings.Reading.__name__ == Reading.__name__
    assert bridge_readings.encode_stream(
        [bridge_readings.Reading("d", "s", 1.5, 2, 3)]
    ) == encode_stream([Reading("d", "s", 1.5, 2, 3)])


@given(st.lists(readings, max_size=20))
def test_reads_what_the_bridge_encodes(batch: list[Reading]) -> None:
    payload = encode_stream(batch)
    assert decode_stream(payload) == batch
    assert decode_stream(payload.decode()) == batch  # str, as MQTT may hand it over


def test_the_stream_is_an_array_of_arrays() -> None:
    """``[device, sensor, value, ts, seq]`` per reading, as docs/mqtt.md shows."""
    batch = [
        Reading("fleet_1", "temperature", 21.4, 1767268800123, 1767268790000001234),
        Reading("fleet_1", "door", True, 1767268800124, 1767268790000001235),
    ]
    assert json.loads(encode_stream(batch)) == [
        ["fleet_1", "temperature", 21.4, 1767268800123, 1767268790000001234],
        ["fleet_1", "door", True, 1767268800124, 1767268790000001235],
    ]
    assert decode_stream("[]") == []


def test_a_state_payload_carries_value_time_and_seq() -> None:
    """What Home Assistant's MQTT entities read with ``value_json.v``."""
    payload = encode_state(Reading("fleet_1", "temperature", 21.4, 1000, 7))
    assert json.loads(payload) == {"v": 21.4, "ts": 1000, "seq": 7}


@given(st.binary() | st.text())
def test_random_payloads_are_refused_cleanly(payload: bytes | str) -> None:
    try:
        decoded = decode_stream(payload)
    except InvalidPayloadError:
        return
    assert all(isinstance(reading, Reading) and reading.seq >= 0 for reading in decoded)


@given(
    st.lists(
        st.lists(json_values | st.integers(min_value=-(2**63), max_value=-1), max_size=6),
        max_size=4,
    )
)
def test_mutated_readings_are_read_only_when_whole(batch: list[list[Any]]) -> None:
    """Any array of arrays: decoded only if every reading has ids, a time and a seq."""

    def natural(value: object) -> bool:
        return type(value) is int and 0 <= value < 2**64

    def whole(reading: list[Any]) -> bool:
        return (
            len(reading) >= 5
            and all(isinstance(part, str) for part in reading[:2])
            and natural(reading[3])
            and natural(reading[4])
        )

    payload = json.dumps(batch)
    if all(whole(reading) for reading in batch):
        decoded = [_fields(reading) for reading in decode_stream(payload)]
        assert decoded == [tuple(reading[:5]) for reading in batch]
    else:
        with pytest.raises(InvalidPayloadError):
            decode_stream(payload)


def _fields(reading: Reading) -> tuple[Any, ...]:
    return (reading.device_id, reading.sensor_id, reading.value, reading.ts_ms, reading.seq)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "truncated"),
        ("not json", "malformed"),
        ("null", "Expected `array`, got `null`"),
        ('{"v": 1, "ts": 1, "seq": 1}', "Expected `array`, got `object`"),
        ('[{"v": 1, "ts": 1, "seq": 1}]', "Expected `array`, got `object` - at `$[0]`"),
        ("[[]]", "at `$[0]`"),
        ('[["d", "s", 1, 1]]', "Expected a seq - at `$[0]`"),  # seq left out
        ('[["d", "s", 1, 1, 1], ["d", "s", 1, 1]]', "Expected a seq - at `$[1]`"),
        ('[["d", "s", 1, -1, 1]]', "Expected `int` >= 0 - at `$[0][3]`"),
        ('[["d", "s", 1, 1, -1]]', "Expected `int` >= 0 - at `$[0][4]`"),
        ('[["d", "s", 1, 1.5, 1]]', "Expected `int`, got `float` - at `$[0][3]`"),
        ('[["d", "s", 1, true, 1]]', "Expected `int`, got `bool` - at `$[0][3]`"),
        ('[["d", "s", 1, 1, "1"]]', "Expected `int`, got `str` - at `$[0][4]`"),
        ('[[1, "s", 1, 1, 1]]', "Expected `str`, got `int` - at `$[0][0]`"),
        ('[["d", "s", NaN, 1, 1]]', "malformed"),
        ('[["d", "s", Infinity, 1, 1]]', "malformed"),
        ('[["d", "s", 1e999, 1, 1]]', "Number out of range - at `$[0][2]`"),
        ("[" * 100_000, "at `$[0][0]`"),
        (b"\xff\xfe", "malformed"),
    ],
)
def test_not_a_stream_message(payload: str | bytes, message: str) -> None:
    with pytest.raises(InvalidPayloadError, match=re.escape(message)):
        decode_stream(payload)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (21, 21.0),
        (-3.5, -3.5),
        (True, None),
        ("21", None),
        (None, None),
        (10**400, None),
        (float("inf"), None),
        (float("nan"), None),
        ([1], None),
        ({"latitude": 1.0}, None),
    ],
)
def test_numeric_value(value: object, expected: float | None) -> None:
    assert numeric_value(value) == expected


def test_loads_strict_refuses_what_json_does_not_have() -> None:
    assert loads_strict('{"v": 1.5}') == {"v": 1.5}
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError, match="not valid JSON"):
            loads_strict(f'{{"v": {constant}}}')
