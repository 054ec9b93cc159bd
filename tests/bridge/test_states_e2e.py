"""The two views of the readings over a real Mosquitto, through everything that re-sends.

The bridge process runs two simulated fleets (one with the default state filters, one with a
short throttle, a delta and a heartbeat). Meanwhile Home Assistant's birth message comes,
the bridge's connection is taken over (a forced reconnect) and the broker is stopped for
30 s and started again on the same port. Two plain subscribers watch:

- ``watcher``, a clean session as Home Assistant's own: every state topic, the stream and
  availability, in the broker's order. On every state topic the ``seq`` never goes down;
  every state is a reading of its own sensor, never older than a reading of that sensor the
  stream carried before it; after each of the three events every sensor's newest state
  comes again.
- ``archive``, a persistent session on a broker that keeps sessions: the stream, through the
  outage. With what is left in the spool at the end, it holds every ``seq`` from the first
  to the last exactly once after de-duplication, each new one in ``seq`` order.

It takes about a minute (the 30 s outage, and the bridge's reconnect back-off after it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iot_monitor_bridge.contract.readings import Reading, loads_strict
from iot_monitor_bridge.runtime.publisher import STATES_DELAY_S
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies, stream_readings

BRIDGE = "lab-pi"
ROOT = f"iot_monitor/{BRIDGE}"
STREAM = f"{ROOT}/stream"
STATES = f"{ROOT}/+/+/state"
AVAILABILITY = f"{ROOT}/availability"
HA_STATUS = "homeassistant/status"
FLEETS = [
    {"id": "fleet", "simulate": {"count": 8, "rate_hz": 4, "seed": 11}},
    {
        "id": "quick",
        "simulate": {
            "count": 2,
            "rate_hz": 20,
            "seed": 12,
            "state": {"throttle": "300ms", "delta": 0.05, "heartbeat": "2s"},
        },
    },
]
RATE = 8 * 5 * 4 + 2 * 5 * 20
"""Readings per second of ``FLEETS``."""
SENSORS = ("temperature", "humidity", "battery", "status", "location")
FLEET_STATE_TOPICS = {
    f"{ROOT}/{device}/{sensor}/state"
    for device in [*(f"fleet_{n}" for n in range(1, 9)), "quick_1", "quick_2"]
    for sensor in SENSORS
}
CUT_S = 30.0
RESENT_WITHIN_S = STATES_DELAY_S + 10


def _is_state(message: Message) -> bool:
    return message.topic.endswith("/state")


def _key(topic: str) -> tuple[str, str]:
    """``(device, sensor)`` of ``<root>/<bridge>/<device>/<sensor>/state``."""
    device, sensor = topic.split("/")[2:4]
    return device, sensor


def _onlines(messages: list[Message]) -> int:
    return sum(1 for m in messages if m.topic == AVAILABILITY and m.payload == b"online")


def _wait_resent(watcher: Recorder, after: int, what: str) -> None:
    """Every state topic seen before ``messages[after]`` gets a state after it."""
    before = {m.topic for m in watcher.messages[:after] if _is_state(m)}
    assert before >= FLEET_STATE_TOPICS, sorted(FLEET_STATE_TOPICS - before)[:5]
    watcher.wait_for(
        lambda ms: {m.topic for m in ms[after:] if _is_state(m)} >= before,
        RESENT_WITHIN_S,
        what,
    )


def _take_over(broker: Mosquitto, client_id: str) -> None:
    """Connect with the bridge's client id, then leave: the broker drops the bridge's
    connection (MQTT's session take-over), and the bridge reconnects."""
    connected = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    client.on_connect = lambda *_: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(10), "the take-over did not connect"
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    started = Mosquitto(tmp_path / "broker", persistence=True).start()
    yield started
    started.kill()


@pytest.mark.slow
def test_state_topics_never_go_back_and_the_stream_loses_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    archive = Recorder(
        broker.port,
        STREAM,
        AVAILABILITY,
        client_id="archive",
        clean_session=False,
        reconnect_delay=0.2,
        max_reconnect_delay=0.5,
    )
    watcher = Recorder(
        broker.port, STREAM, STATES, AVAILABILITY, HA_STATUS,
        reconnect_delay=0.2, max_reconnect_delay=0.5,
    )  # fmt: skip
    bridge = BridgeProcess(
        tmp_path / "bridge",
        [broker],
        FLEETS,
        bridge={"id": BRIDGE, "name": "Lab Pi"},
        health={"interval": 0.5},
    )
    try:
        bridge.start()
        watcher.wait_for(
            lambda ms: _onlines(ms) >= 1 and {m.topic for m in ms} >= FLEET_STATE_TOPICS,
            20,
            "the bridge online and a state of every fleet sensor",
        )
        # The states re-sent a second after connecting are out before the birth comes.
        time.sleep(STATES_DELAY_S + 1.0)

        # 1. Home Assistant's birth message; the watcher gets its own in the broker's order.
        watcher.publish(HA_STATUS, b"online")
        messages = watcher.wait_for(
            lambda ms: any(m.topic == HA_STATUS for m in ms), 10, "the birth message"
        )
        birth = next(i for i, m in enumerate(messages) if m.topic == HA_STATUS)
        _wait_resent(watcher, birth, "every state after the birth")

        # 2. A forced reconnect.
        onlines = _onlines(watcher.messages)
        _take_over(broker, f"iot-monitor-{BRIDGE}")
        messages = watcher.wait_for(
            lambda ms: _onlines(ms) > onlines, 15, "the bridge back after the take-over"
        )
        reconnect = [
            i for i, m in enumerate(messages) if m.topic == AVAILABILITY and m.payload == b"online"
        ][onlines]
        _wait_resent(watcher, reconnect, "every state after the reconnect")
        time.sleep(2.0)

        # 3. The broker is gone for 30 s, then back on the same port (sessions kept).
        before_cut = bridge.health()
        watcher_connects = len(watcher.connects)
        broker.stop()
        bridge.wait_health(lambda h: not h["broker"]["connected"], 10, "the bridge to notice")
        time.sleep(CUT_S)
        during = bridge.health()
        restart_ms = time.time() * 1000
        broker.start()
        watcher.wait_for(lambda _: len(watcher.connects) > watcher_connects, 10, "the watcher back")
        back = watcher.connects[watcher_connects]
        _wait_resent(watcher, back, "every state after the outage")
        bridge.wait_health(
            lambda h: h["broker"]["connected"] and h["published_total"] >= during["readings_total"],
            60,
            "the backlog to drain",
        )
        time.sleep(2.0)

        offline = sum(1 for m in archive.on(AVAILABILITY) if m.payload == b"offline")
        bridge.stop()
        # The bridge's last message: once here, so is every reading the broker acknowledged.
        archive.wait_for(
            lambda _: sum(1 for m in archive.on(AVAILABILITY) if m.payload == b"offline") > offline,
            15,
            "offline at the end",
        )
        left = bridge.spool_readings()
        watched = watcher.wait_for(bool)
        archived = archive.stream_readings()
    finally:
        watcher.close()
        archive.close()
        bridge.close()

    # The outage was real: readings piled up and came through afterwards.
    produced = during["readings_total"] - before_cut["readings_total"]
    assert produced >= 0.8 * RATE * CUT_S
    assert during["spool_depth"] >= 0.8 * RATE * (CUT_S - 1)

    # The stream: every seq from the first to the last exactly once after de-duplication.
    firsts = first_copies(archived + left)
    seqs = [reading.seq for reading in firsts]
    missing = sorted(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
    assert not missing, f"{len(missing)} readings lost, the first {missing[:5]}"
    new_seqs = [reading.seq for reading in first_copies(archived)]
    assert new_seqs == sorted(new_seqs)  # each new reading after every older one
    # What the spool kept at the stop is the newest only: nothing older stayed behind.
    never_sent = {reading.seq for reading in left} - set(new_seqs)
    assert not never_sent or min(never_sent) > max(new_seqs), (len(never_sent), len(left))
    cut_from_ms = restart_ms - CUT_S * 1000
    in_the_cut = [r for r in first_copies(archived) if cut_from_ms + 1000 < r.ts_ms < restart_ms]
    assert len(in_the_cut) >= 0.8 * RATE * (CUT_S - 1)  # the backlog came on the stream
    by_seq = {reading.seq: reading for reading in firsts}

    # The state topics, as the watcher saw them.
    last: dict[str, int] = {}
    newest_streamed: dict[tuple[str, str], int] = {}
    after_restart = False
    newest_before_restart: dict[tuple[str, str], int] = {}
    for reading in firsts:
        if reading.ts_ms < restart_ms - 1000:  # surely read before the bridge was back
            key = (reading.device_id, reading.sensor_id)
            newest_before_restart[key] = max(newest_before_restart.get(key, -1), reading.seq)
    states = 0
    for index, message in enumerate(watched):
        after_restart = after_restart or index >= back
        if message.topic == STREAM:
            for reading in stream_readings([message]):
                key = (reading.device_id, reading.sensor_id)
                newest_streamed[key] = max(newest_streamed.get(key, -1), reading.seq)
            continue
        if not _is_state(message):
            continue
        states += 1
        state: dict[str, Any] = loads_strict(message.payload)
        assert set(state) == {"v", "ts", "seq"}
        seq, key = state["seq"], _key(message.topic)
        # Never back to an older reading, from one message to the next on the same topic.
        assert seq >= last.get(message.topic, -1), (message.topic, last[message.topic], seq)
        last[message.topic] = seq
        # A reading of its own sensor, as the stream carries it.
        reading: Reading = by_seq[seq]
        assert ((reading.device_id, reading.sensor_id), reading.value, reading.ts_ms) == (
            key,
            state["v"],
            state["ts"],
        )
        # The newest the bridge had: not older than what the stream carried before it ...
        assert seq >= newest_streamed.get(key, -1), (message.topic, seq)
        # ... nor, after the outage, than what the sensor read before the broker came back:
        # the backlog never reaches a state topic.
        if after_restart:
            assert seq >= newest_before_restart.get(key, -1), (message.topic, seq)
    readings_on_stream = len(first_copies(stream_readings(watched)))
    assert states < readings_on_stream / 5  # calm: far fewer states than readings
