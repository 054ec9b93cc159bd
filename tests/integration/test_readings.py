"""The pure parsers of readings and state topics: the bridge's own payloads, and hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.iot_monitor.readings import (
    Reading,
    broker_text,
    numeric_value,
    parse_reading,
    state_topic_ids,
)
from iot_monitor_bridge.model import Reading as BridgeReading
from iot_monitor_bridge.protocol.payloads import encode_reading
from iot_monitor_bridge.protocol.topics import Topics

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(
    value=json_values,
    ts_ms=st.integers(min_value=0, max_value=2**53),
    seq=st.integers(min_value=0, max_value=2**63),
)
def test_reads_what_the_bridge_encodes(value: object, ts_ms: int, seq: int) -> None:
    payload = encode_reading(BridgeReading("d", "s", value, ts_ms, seq))
    assert parse_reading(payload) == Reading(value, ts_ms, seq)


@given(st.binary() | st.text())
def test_random_payloads_never_raise(payload: bytes | str) -> None:
    parse_reading(payload)


@given(st.dictionaries(st.sampled_from(["v", "ts", "seq", "x"]), json_values))
def test_mutated_objects_never_raise(data: dict[str, object]) -> None:
    reading = parse_reading(json.dumps(data))

    def natural(value: object) -> bool:
        return type(value) is int and value >= 0

    valid = "v" in data and natural(data.get("ts")) and natural(data.get("seq"))
    assert (reading is not None) is valid


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "null",
        "[]",
        '{"ts": 1, "seq": 1}',
        '{"v": 1, "seq": 1}',
        '{"v": 1, "ts": 1}',
        '{"v": 1, "ts": -1, "seq": 1}',
        '{"v": 1, "ts": 1.5, "seq": 1}',
        '{"v": 1, "ts": true, "seq": 1}',
        '{"v": 1, "ts": 1, "seq": "1"}',
        "[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_not_a_reading(payload: str | bytes) -> None:
    assert parse_reading(payload) is None


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
    ],
)
def test_numeric_value(value: object, expected: float | None) -> None:
    assert numeric_value(value) == expected


def test_broker_text() -> None:
    assert broker_text("10.0.0.2:1883") == "10.0.0.2:1883"
    assert broker_text("") is None
    assert broker_text(1883) is None


def test_state_topic_ids() -> None:
    topics = Topics("iot/sub", "lab-pi", "homeassistant")
    base = topics.base
    assert state_topic_ids(base, topics.state("fleet_1", "temperature")) == (
        "fleet_1",
        "temperature",
    )
    assert state_topic_ids(base, f"{base}/fleet_1/state") is None
    assert state_topic_ids(base, f"{base}/a/b/c/state") is None
    assert state_topic_ids(base, f"{base}//b/state") is None
    assert state_topic_ids(base, "iot/sub/other-pi/fleet_1/temperature/state") is None
    assert state_topic_ids(base, topics.output_set("fleet_1", "fan")) is None


BASE = "iot_monitor/lab-pi"


@given(st.text() | st.builds("{}/{}/{}/state".format, st.just(BASE), st.text(), st.text()))
def test_random_topics_never_raise(topic: str) -> None:
    """Ids come back only from a topic they rebuild, and never empty."""
    ids = state_topic_ids(BASE, topic)
    if ids is not None:
        assert all(ids)
        assert topic == f"{BASE}/{ids[0]}/{ids[1]}/state"
