"""The publisher's two paths against a fake link, on a loop whose clock the test moves.

The stream: readings of one loop turn share a message, a PUBACK takes its whole batch out of
the spool, the window holds. The state topics: the throttle's trailing publish at the end of
the period with the newest value, delta and heartbeat, and the newest reading re-sent after a
connect and after Home Assistant's birth, also while it still waits for its PUBACK on the
stream. ``tests/bridge/test_runtime_publisher.py`` runs the same publisher over Mosquitto.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from iot_monitor_bridge.config import SpoolConfig
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers.base import now_ms
from iot_monitor_bridge.model import DeviceSpec, OutputSpec, SensorKind, SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT, MqttLink
from iot_monitor_bridge.runtime.publisher import STATES_DELAY_S, STREAM_BATCH, Publisher
from iot_monitor_bridge.runtime.spool import Spool
from iot_monitor_bridge.states import SAMPLED_THROTTLE_S, StateFilter
from tests.support.fake_link import FakeLink, ManualClockLoop, Sent, advance, run, settle

TOPICS = Topics("iot_monitor", "lab", "homeassistant")
INFO = BridgeInfo("lab", "Lab", "1.0", TOPICS)
BOILER = DeviceSpec(
    "boiler",
    "Boiler",
    "Pi sensors",
    sensors=(
        SensorSpec("temperature", "Temperature", unit="°C"),
        SensorSpec("door", "Door", SensorKind.BINARY),
        SensorSpec("mode", "Mode", SensorKind.ENUM, options=("eco", "boost")),
        SensorSpec("position", "Position", SensorKind.LOCATION),
        SensorSpec("alarm", "Alarm", SensorKind.EVENT, options=("opened", "closed")),
    ),
    outputs=(OutputSpec("fan", "Fan"),),
)
BASE_TS = now_ms() - 60_000  # recent: the spool drops readings older than its max_age


@dataclass
class Rig:
    loop: ManualClockLoop
    link: FakeLink
    publisher: Publisher
    spool: Spool

    def emit(self, sensor: str, value: Any, ts_ms: int = BASE_TS) -> None:
        self.publisher.emit(Reading("boiler", sensor, value, ts_ms))

    def accept(self, sensor: str, value: Any) -> Reading:
        """Emit a reading; the reading as the spool numbered it (the newest in the spool)."""
        self.emit(sensor, value)
        accepted = self.spool.pending(10**6)[-1]
        assert (accepted.sensor_id, accepted.value) == (sensor, value)
        return accepted

    def batches(self) -> list[list[Reading]]:
        return self.link.stream(TOPICS.stream)

    def stream(self) -> list[Reading]:
        return [reading for batch in self.batches() for reading in batch]

    def states(self, sensor: str) -> list[Sent]:
        return self.link.on(TOPICS.state("boiler", sensor))

    def state_values(self, sensor: str) -> list[Any]:
        return [json.loads(sent.payload)["v"] for sent in self.states(sensor)]

    def newest(self, sensor: str) -> Reading:
        """The newest reading of ``sensor`` that went out on the stream."""
        return [r for r in self.stream() if r.sensor_id == sensor][-1]


Scenario = Callable[[Rig], Coroutine[Any, Any, None]]


def run_rig(
    tmp_path: Path,
    scenario: Scenario,
    *,
    connected: bool = True,
    window: int = MAX_INFLIGHT,
    filters: dict[tuple[str, str], StateFilter] | None = None,
) -> None:
    """Run ``scenario`` with a started publisher on a fake link, on a ``ManualClockLoop``.

    The link is up unless ``connected`` is false, and what follows its connect is done: the
    scenario starts with nothing sent but the description and discovery, all acknowledged.
    """

    async def main(loop: ManualClockLoop) -> None:
        async with _rig(loop, tmp_path, connected, window, filters) as rig:
            await scenario(rig)

    run(main)


@asynccontextmanager
async def _rig(
    loop: ManualClockLoop,
    tmp_path: Path,
    connected: bool,
    window: int,
    filters: dict[tuple[str, str], StateFilter] | None,
) -> AsyncIterator[Rig]:
    spool = Spool(tmp_path / "spool.db", SpoolConfig())
    link = FakeLink(loop, window)
    publisher = Publisher(
        link=cast("MqttLink", link),
        spool=spool,
        info=INFO,
        devices=[BOILER],
        outputs={},
        state_filters=filters,
    )
    publisher.start()
    try:
        if connected:
            link.up()
            # The states re-sent after this connect (none yet) and the PUBACKs of the
            # description and discovery: out of the way before the scenario starts.
            await advance(loop, STATES_DELAY_S)
            link.ack()
        await settle()
        yield Rig(loop, link, publisher, spool)
    finally:
        await publisher.stop()
        spool.close()


# ----- the stream ------------------------------------------------------------------------------


def test_readings_of_one_loop_turn_share_one_stream_message(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 20.0)
        rig.emit("door", True)
        rig.emit("temperature", 20.1)
        await settle()
        batches = rig.batches()
        assert [[(r.sensor_id, r.value) for r in batch] for batch in batches] == [
            [("temperature", 20.0), ("door", True), ("temperature", 20.1)]
        ]
        seqs = [r.seq for r in batches[0]]
        assert seqs == sorted(set(seqs))

        rig.emit("temperature", 20.2)  # the next turn: its own message
        rig.emit("temperature", 20.3)
        await settle()
        for n in range(450):  # more than a message holds, in one turn
            rig.emit("temperature", float(n))
        await settle()
        sizes = [len(batch) for batch in rig.batches()]
        assert sizes == [3, 2, STREAM_BATCH, STREAM_BATCH, 450 - 2 * STREAM_BATCH]
        seqs = [r.seq for r in rig.stream()]
        assert seqs == sorted(set(seqs))  # one connection: every reading once, in seq order
        stream = rig.link.on(TOPICS.stream)
        assert {(sent.qos, sent.retain) for sent in stream} == {(1, False)}
        assert rig.publisher.readings_total == 455

    run_rig(tmp_path, scenario)


def test_a_puback_takes_its_whole_batch_out_of_the_spool(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        for n in range(5):
            rig.emit("temperature", float(n))
        await settle()
        for n in range(5, 8):
            rig.emit("temperature", float(n))
        await settle()
        first, second = rig.batches()
        first_mid, second_mid = (sent.mid for sent in rig.link.on(TOPICS.stream))
        assert rig.spool.depth == 8

        rig.link.ack([second_mid])
        assert [r.seq for r in rig.spool.pending(100)] == [r.seq for r in first]
        assert rig.publisher.published_total == len(second) == 3
        rig.link.ack([first_mid])
        assert rig.spool.depth == 0
        assert rig.spool.pending(100) == []
        assert rig.publisher.published_total == 8
        assert await rig.publisher.wait_idle(1)

    run_rig(tmp_path, scenario)


def test_a_batch_without_puback_is_sent_again_after_the_reconnect(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        for n in range(3):
            rig.emit("temperature", float(n))
        await settle()
        lost = rig.stream()
        rig.link.down()  # no PUBACK came
        rig.emit("temperature", 3.0)  # no broker: it waits in the spool behind them
        rig.link.up()
        await settle()
        again = rig.batches()[1:]
        assert [[r.value for r in batch] for batch in again] == [[0.0, 1.0, 2.0, 3.0]]
        assert again[0][:3] == lost  # the same readings, seq and ts kept
        rig.link.ack()
        assert rig.spool.depth == 0
        assert rig.publisher.published_total == 4

    run_rig(tmp_path, scenario)


def test_the_window_holds_stream_and_state_messages_and_the_rest_waits_in_order(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 20.0)  # its state and its stream message: the window is full
        await settle()
        assert len(rig.link.unacknowledged) == 2
        rig.emit("temperature", 20.1)  # throttled, so no state; the stream has no room
        await settle()
        rig.emit("temperature", 20.2)
        await settle()
        assert [[r.value for r in batch] for batch in rig.batches()] == [[20.0]]
        rig.link.ack([rig.states("temperature")[0].mid])  # room for one: the spool's oldest
        await settle()
        assert [[r.value for r in batch] for batch in rig.batches()] == [[20.0], [20.1, 20.2]]
        rig.link.ack()
        rig.emit("temperature", 20.3)  # caught up again: straight out
        await settle()
        assert [r.value for r in rig.batches()[-1]] == [20.3]
        seqs = [r.seq for r in rig.stream()]
        assert seqs == sorted(set(seqs))

    run_rig(tmp_path, scenario, window=2)


def test_a_backlog_drains_in_full_batches_oldest_first_as_the_window_allows(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        for n in range(1000):  # no broker: all into the spool
            rig.emit("temperature", float(n))
        rig.link.up()
        await settle()
        assert [len(batch) for batch in rig.batches()] == [STREAM_BATCH, STREAM_BATCH]  # full
        for n in range(1000, 1010):  # new readings wait behind the backlog
            rig.emit("temperature", float(n))
            await settle()
        for _ in range(10):  # two batches at a time: 1010 readings in six rounds
            rig.link.ack()
            await settle()
        values = [r.value for r in rig.stream()]
        assert values == [float(n) for n in range(1010)]  # each once, oldest first
        assert rig.publisher.published_total == 1010
        assert rig.spool.depth == 0
        assert all(len(batch) == STREAM_BATCH for batch in rig.batches()[:5])

    run_rig(tmp_path, scenario, connected=False, window=2)


# ----- the state topics ----------------------------------------------------------------------


def test_a_state_carries_the_reading_as_v_ts_seq_not_retained(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 21.5, BASE_TS + 7)
        await settle()
        (state,) = rig.states("temperature")
        reading = rig.newest("temperature")
        assert json.loads(state.payload) == {"v": 21.5, "ts": BASE_TS + 7, "seq": reading.seq}
        assert (state.qos, state.retain) == (1, False)
        # The state goes out as the reading is accepted, ahead of its stream message.
        assert rig.link.sent.index(state) < rig.link.sent.index(rig.link.on(TOPICS.stream)[0])

    run_rig(tmp_path, scenario)


def test_a_throttled_state_publishes_the_newest_value_at_the_periods_end(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        start = rig.loop.time()
        rig.emit("temperature", 20.0)
        await settle()
        for value in (20.5, 21.0, 21.5):  # within the period: none is published now
            await advance(rig.loop, 1.0)
            rig.emit("temperature", value)
            await settle()
        assert rig.state_values("temperature") == [20.0]
        await advance(rig.loop, start + SAMPLED_THROTTLE_S - 0.01 - rig.loop.time())
        assert rig.state_values("temperature") == [20.0]
        await advance(rig.loop, 0.02)
        trailing = rig.states("temperature")[-1]
        assert rig.state_values("temperature") == [20.0, 21.5]  # the newest, not 20.5
        assert json.loads(trailing.payload)["seq"] == rig.newest("temperature").seq
        assert trailing.at == pytest.approx(start + SAMPLED_THROTTLE_S)

        await advance(rig.loop, 60.0)  # nothing new, no heartbeat: nothing more
        assert len(rig.states("temperature")) == 2
        rig.emit("temperature", 22.0)  # long after the last state: at once
        await settle()
        assert rig.state_values("temperature") == [20.0, 21.5, 22.0]
        assert rig.states("temperature")[-1].at == rig.loop.time()

    run_rig(tmp_path, scenario)


def test_a_value_back_to_the_published_one_cancels_the_trailing_publish(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 20.0)
        await settle()
        await advance(rig.loop, 1.0)
        rig.emit("temperature", 20.5)
        await advance(rig.loop, 1.0)
        rig.emit("temperature", 20.0)  # what the state topic shows already
        await advance(rig.loop, 30.0)
        assert rig.state_values("temperature") == [20.0]

    run_rig(tmp_path, scenario)


def test_locations_are_throttled_while_edges_enums_and_outputs_publish_every_change(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        here, there = {"latitude": 1.0, "longitude": 2.0}, {"latitude": 1.5, "longitude": 2.0}
        for sensor, first, second in (
            ("door", True, False),
            ("mode", "eco", "boost"),
            ("fan", False, True),
            ("position", here, there),
        ):
            rig.emit(sensor, first)
            await advance(rig.loop, 0.5)
            rig.emit(sensor, first)  # the same value: nothing new to show
            await advance(rig.loop, 0.5)
            rig.emit(sensor, second)
            await settle()
        assert rig.state_values("door") == [True, False]
        assert rig.state_values("mode") == ["eco", "boost"]
        assert rig.state_values("fan") == [False, True]
        assert rig.state_values("position") == [here]  # throttled like a number
        await advance(rig.loop, SAMPLED_THROTTLE_S)
        assert rig.state_values("position") == [here, there]

    run_rig(tmp_path, scenario)


def test_a_sensor_no_device_announced_gets_every_change(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        for value in (1.0, 2.0, 2.0, 3.0):
            rig.emit("pressure", value)
            await settle()
        assert rig.state_values("pressure") == [1.0, 2.0, 3.0]

    run_rig(tmp_path, scenario)


def test_delta_and_heartbeat(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        start = rig.loop.time()
        for value in (20.0, 20.3, 19.6, 20.6):  # within 0.5 of 20.0, then not
            rig.emit("temperature", value)
            await settle()
        assert rig.state_values("temperature") == [20.0, 20.6]
        await advance(rig.loop, 59.9)
        assert len(rig.states("temperature")) == 2
        await advance(rig.loop, 0.2)  # a minute without a state: the same reading again
        beat = rig.states("temperature")[-1]
        assert json.loads(beat.payload) == json.loads(rig.states("temperature")[1].payload)
        assert beat.at == pytest.approx(start + 60.0)
        rig.emit("temperature", 20.8)  # within delta: not now ...
        await advance(rig.loop, 59.0)
        assert len(rig.states("temperature")) == 3
        await advance(rig.loop, 1.1)  # ... but the heartbeat sends the newest reading
        assert rig.state_values("temperature")[-1] == 20.8
        assert json.loads(rig.states("temperature")[-1].payload)["seq"] == (
            rig.newest("temperature").seq
        )

    filters = {("boiler", "temperature"): StateFilter(throttle=0.0, delta=0.5, heartbeat=60.0)}
    run_rig(tmp_path, scenario, filters=filters)


def test_the_newest_state_is_sent_after_a_connect_also_while_unacknowledged(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 20.0)
        rig.emit("door", True)
        await settle()
        rig.link.ack()
        await advance(rig.loop, 2.0)
        rig.emit("temperature", 21.0)  # throttled: no state yet; its stream batch stays unacked
        await settle()
        newest = rig.newest("temperature")
        assert rig.state_values("temperature") == [20.0]

        rig.link.down()
        await advance(rig.loop, 20.0)  # the throttle's end passes without a broker
        assert rig.state_values("temperature") == [20.0]
        rig.link.up()
        up_at = rig.loop.time()
        await advance(rig.loop, STATES_DELAY_S - 0.01)
        assert rig.state_values("temperature") == [20.0]  # not before the delay
        await advance(rig.loop, 0.02)
        temperature, door = rig.states("temperature")[-1], rig.states("door")[-1]
        assert json.loads(temperature.payload)["seq"] == newest.seq
        assert json.loads(door.payload)["v"] is True  # unchanged, sent all the same
        assert temperature.at == door.at == pytest.approx(up_at + STATES_DELAY_S)
        # Its batch was sent again on the new connection and is still not acknowledged.
        assert newest.seq in {r.seq for r in rig.spool.pending(100)}
        assert rig.link.mid_of(TOPICS.stream) in rig.link.unacknowledged
        await advance(rig.loop, 60.0)
        assert len(rig.states("temperature")) == 2  # the pending trailing publish is not doubled

    run_rig(tmp_path, scenario)


def test_home_assistants_birth_brings_discovery_at_once_and_the_newest_states_after_the_delay(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.emit("temperature", 20.0)
        rig.emit("mode", "eco")
        await settle()
        rig.link.ack()
        await advance(rig.loop, 3.0)
        rig.emit("temperature", 21.0)  # throttled until 10 s; unacknowledged on the stream
        await settle()
        newest = rig.newest("temperature")
        discovery = TOPICS.discovery("lab_boiler")
        configs = len(rig.link.on(discovery))

        rig.link.deliver(TOPICS.ha_status, b"offline")  # only "online" means anything
        await advance(rig.loop, STATES_DELAY_S + 0.1)
        assert len(rig.link.on(discovery)) == configs
        rig.link.deliver(TOPICS.ha_status, b"online")
        birth_at = rig.loop.time()
        assert len(rig.link.on(discovery)) == configs + 1
        await advance(rig.loop, STATES_DELAY_S - 0.01)
        assert rig.state_values("temperature") == [20.0]
        await advance(rig.loop, 0.02)
        again = rig.states("temperature")[-1]
        assert json.loads(again.payload) == {"v": 21.0, "ts": BASE_TS, "seq": newest.seq}
        assert again.at == pytest.approx(birth_at + STATES_DELAY_S)
        assert rig.state_values("mode") == ["eco", "eco"]
        assert newest.seq in {r.seq for r in rig.spool.pending(100)}  # still unacknowledged

    run_rig(tmp_path, scenario)


def test_without_a_broker_nothing_is_published_and_the_connection_brings_the_newest(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        for value in (20.0, 21.0, 22.0):
            rig.emit("temperature", value)
            await advance(rig.loop, 15.0)
        rig.emit("door", False)
        await advance(rig.loop, 15.0)
        assert rig.link.sent == []
        rig.link.up()
        await advance(rig.loop, STATES_DELAY_S)
        assert [r.value for r in rig.stream()] == [20.0, 21.0, 22.0, False]  # all, in order
        assert rig.state_values("temperature") == [22.0]  # only the newest
        assert rig.state_values("door") == [False]
        await advance(rig.loop, 60.0)
        assert rig.state_values("temperature") == [22.0]

    run_rig(tmp_path, scenario, connected=False)


def test_an_event_is_published_once_live_and_never_again(tmp_path: Path) -> None:
    """A re-sent event would fire again in Home Assistant: not after a connect or a birth."""

    async def scenario(rig: Rig) -> None:
        opened = {"event_type": "opened"}
        rig.emit("alarm", opened)
        rig.emit("alarm", opened)  # the same payload twice is two events
        await settle()
        assert rig.state_values("alarm") == [opened, opened]
        rig.link.ack()
        rig.link.deliver(TOPICS.ha_status, b"online")
        await advance(rig.loop, STATES_DELAY_S + 0.1)
        rig.link.down()
        rig.emit("alarm", {"event_type": "closed"})  # without a broker: the stream only
        await advance(rig.loop, 5.0)
        rig.link.up()
        await advance(rig.loop, STATES_DELAY_S + 60.0)
        assert rig.state_values("alarm") == [opened, opened]
        assert [r.value for r in rig.stream() if r.sensor_id == "alarm"][-1] == {
            "event_type": "closed"
        }
        rig.emit("alarm", opened)
        await settle()
        assert rig.state_values("alarm") == [opened, opened, opened]

    run_rig(tmp_path, scenario)


def test_states_never_go_back_whatever_the_order_of_events(tmp_path: Path) -> None:
    """Readings, PUBACKs, reconnects and births interleaved at random: each state is the
    newest reading of its sensor at the moment it is sent, so a state topic's seq never
    goes down."""

    async def scenario(rig: Rig) -> None:
        rng = random.Random(7)
        sensors = ("temperature", "door", "mode", "position")
        newest: dict[str, int] = {}
        for step in range(600):
            before = len(rig.link.sent)
            sensor = rng.choice(sensors)
            value = {
                "temperature": round(rng.uniform(15, 25), 1),
                "door": rng.random() < 0.5,
                "mode": rng.choice(("eco", "boost")),
                "position": {"latitude": rng.choice((1.0, 1.1)), "longitude": 2.0},
            }[sensor]
            newest[sensor] = rig.accept(sensor, value).seq
            event = rng.random()
            if event < 0.3:
                rig.link.ack()
            elif event < 0.35 and rig.link.connected:
                rig.link.down()
            elif event < 0.45 and not rig.link.connected:
                rig.link.up()
            elif event < 0.5 and rig.link.connected:
                rig.link.deliver(TOPICS.ha_status, b"online")
            await advance(rig.loop, rng.choice((0.0, 0.1, 0.5, 2.0, 7.0)))
            for sent in rig.link.sent[before:]:
                if sent.topic.endswith("/state"):
                    seq = json.loads(sent.payload)["seq"]
                    assert seq == newest[sent.topic.split("/")[3]], (step, sent)
        for sensor in sensors:
            seqs = [json.loads(sent.payload)["seq"] for sent in rig.states(sensor)]
            assert seqs == sorted(seqs), sensor
            assert len(seqs) >= 10, sensor  # the scenario did exercise this sensor's state

    run_rig(tmp_path, scenario)


def test_states_of_a_throttled_sensor_are_far_fewer_than_its_readings(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        for n in range(4 * 60):  # 4 Hz for a minute
            rig.emit("temperature", 20 + math.sin(n / 10))
            await advance(rig.loop, 0.25)
        assert len(rig.stream()) == 240
        # The first reading at once, then the newest at the end of every period.
        assert len(rig.states("temperature")) == 60 // SAMPLED_THROTTLE_S + 1
        times = [sent.at for sent in rig.states("temperature")]
        assert all(b - a == pytest.approx(SAMPLED_THROTTLE_S) for a, b in itertools.pairwise(times))

    run_rig(tmp_path, scenario)
