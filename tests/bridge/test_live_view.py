"""scripts/live_view.py, the demo's live table: readings counted from the stream, states too."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import paho.mqtt.client as mqtt

from iot_monitor_bridge.contract.readings import Reading, encode_state, encode_stream

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "live_view.py"
ROOT = "iot_monitor/lab-pi"


def _live_view() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_view", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["live_view"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["live_view"]
    return module


def _message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload = payload
    return message


def test_the_table_counts_stream_readings_once_and_shows_the_newest_values() -> None:
    live_view = _live_view()
    view = live_view.LiveView("iot_monitor")
    description = {
        "contract": 2,
        "id": "lab-pi",
        "name": "Lab Pi",
        "devices": [
            {"id": "boiler", "sensors": [{"id": "water_temp", "unit": "°C"}, {"id": "door"}]}
        ],
    }
    first = [
        Reading("boiler", "water_temp", 21.0, 1_000, 1),
        Reading("boiler", "door", False, 1_000, 2),
        Reading("boiler", "water_temp", 21.5, 1_250, 3),
    ]
    newest = Reading("boiler", "water_temp", 22.25, 1_500, 5)
    backlog = [Reading("boiler", "water_temp", 19.0, 900, 4)]  # older, drained after newer
    messages = [
        (f"{ROOT}/description", json.dumps(description).encode()),
        (f"{ROOT}/availability", b"online"),
        (f"{ROOT}/stream", encode_stream(first)),
        (f"{ROOT}/stream", encode_stream([newest])),
        (f"{ROOT}/stream", encode_stream(backlog)),
        (f"{ROOT}/stream", encode_stream(first[1:])),  # sent again after a reconnect
        (f"{ROOT}/boiler/water_temp/state", encode_state(first[0])),
        (f"{ROOT}/boiler/water_temp/state", encode_state(newest)),
        (f"{ROOT}/stream", b"not a batch"),
    ]
    for topic, payload in messages:
        view.on_message(None, None, _message(topic, payload))

    bridge = view.bridges["lab-pi"]
    assert (bridge.readings, bridge.repeats, bridge.states, bridge.invalid) == (5, 2, 2, 1)
    assert bridge.last_seq == 5
    assert bridge.latest == {"boiler": {"water_temp": 22.25, "door": False}}
    text = view.render()
    assert "bridge lab-pi (Lab Pi): online, last seq 5, 1 invalid payloads" in text
    assert "stream: 5 readings" in text
    assert "1.8 per message, 2 repeats; state topics: 2 states" in text
    assert "boiler         door=False  water_temp=22.2°C" in text


def test_seqs_seen_are_bounded_and_old_ones_still_count_as_repeats() -> None:
    live_view = _live_view()
    view = live_view.LiveView("iot_monitor")
    limit = live_view.SEEN_LIMIT
    batch = 200
    for start in range(0, limit + batch, batch):
        readings = [Reading("d", "s", n, 0, n) for n in range(start, start + batch)]
        view.on_message(None, None, _message(f"{ROOT}/stream", encode_stream(readings)))
    bridge = view.bridges["lab-pi"]
    assert bridge.readings == limit + batch
    assert len(bridge.seen) <= limit
    view.on_message(
        None, None, _message(f"{ROOT}/stream", encode_stream([Reading("d", "s", 0, 0, 7)]))
    )
    assert (bridge.readings, bridge.repeats) == (limit + batch, 1)
