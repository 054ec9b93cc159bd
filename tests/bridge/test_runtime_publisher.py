"""The publisher in-process against a real Mosquitto and a real spool file."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.config import BrokerConfig, MqttConfig, SpoolConfig
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers.base import OutputDriver, now_ms
from iot_monitor_bridge.model import DeviceSpec, OutputSpec, Reading, SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import (
    PUBLISHED_OBJECT_IDS_KEY,
    STATES_DELAY_S,
    STREAM_BATCH,
    Publisher,
)
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies

BASE_TS = now_ms() - 60_000  # recent: the spool drops readings older than its max_age
LATER_TS = BASE_TS + 30_000
TOPICS = Topics("iot_monitor", "lab", "homeassistant")
INFO = BridgeInfo("lab", "Lab", "1.0", TOPICS)
SENSOR = SensorSpec("temperature", "Temperature", unit="°C")
BOILER = DeviceSpec(
    "boiler", "Boiler", "Pi sensors", sensors=(SENSOR,), outputs=(OutputSpec("fan", "Fan"),)
)
GARAGE = DeviceSpec("garage", "Garage", "Pi sensors", sensors=(SENSOR,))


class MemoryOutput(OutputDriver):
    """An output whose hardware is a boolean."""

    def __init__(self, device_id: str, output_id: str) -> None:
        self.device_id = device_id
        self.spec = OutputSpec(output_id, output_id)
        self.state = False
        self.fail = False
        self.refused = threading.Event()

    @property
    def is_on(self) -> bool:
        return self.state

    def set(self, on: bool) -> None:
        if self.fail:
            self.refused.set()
            raise OSError("relay board not answering")
        self.state = on


@dataclass
class Pipeline:
    link: MqttLink
    publisher: Publisher
    spool: Spool

    async def close(self) -> None:
        await self.link.close()
        await self.publisher.stop()
        self.spool.close()


@pytest.fixture
async def make_pipeline(
    tmp_path: Path, mosquitto: Mosquitto
) -> AsyncIterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(
        devices: list[DeviceSpec] | None = None,
        outputs: dict[tuple[str, str], OutputDriver] | None = None,
        start_link: bool = True,
        states_delay_s: float = 0.0,
    ) -> Pipeline:
        spool = Spool(tmp_path / "spool.db", SpoolConfig())
        config = MqttConfig(brokers=[BrokerConfig(host=mosquitto.host, port=mosquitto.port)])
        link = MqttLink(config, client_id="lab", availability_topic=TOPICS.availability)
        publisher = Publisher(
            link=link,
            spool=spool,
            info=INFO,
            devices=devices if devices is not None else [BOILER],
            outputs=outputs or {},
            states_delay_s=states_delay_s,
        )
        publisher.start()
        if start_link:
            link.start()
        pipeline = Pipeline(link, publisher, spool)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.close()


def _states(
    messages: list[Message], device: str = "boiler", sensor: str = "temperature"
) -> list[dict[str, Any]]:
    topic = TOPICS.state(device, sensor)
    return [m.json() for m in messages if m.topic == topic]


def _changes(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A state topic's messages without the re-sends of the newest reading (after a connect or
    a birth message), which repeat it exactly; its ``seq`` never goes down."""
    changes: list[dict[str, Any]] = []
    for state in states:
        if changes and state["seq"] == changes[-1]["seq"]:
            assert state == changes[-1]
            continue
        assert not changes or state["seq"] > changes[-1]["seq"], (changes[-1], state)
        changes.append(state)
    return changes


async def _wait(
    recorder: Recorder, predicate: Callable[[list[Message]], bool], what: str
) -> list[Message]:
    return await asyncio.to_thread(recorder.wait_for, predicate, 15.0, what)


async def _wait_readings(recorder: Recorder, count: int, what: str) -> list[Reading]:
    """The stream's readings once at least ``count`` came (repeats included)."""
    return await asyncio.to_thread(
        recorder.wait_for_readings, lambda rs: len(rs) >= count, 15.0, what
    )


def _reading(value: float | bool, ts_ms: int = BASE_TS, sensor: str = "temperature") -> Reading:
    return Reading("boiler", sensor, value, ts_ms)


async def test_readings_are_published_and_leave_the_spool_on_puback(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    for n in range(300):  # one turn of the loop
        pipeline.publisher.emit(_reading(20 + n / 10, BASE_TS + n))
    readings = await _wait_readings(recorder, 300, "300 readings")
    seqs = [reading.seq for reading in readings]
    assert len(seqs) == 300
    assert seqs == sorted(set(seqs))  # each once, in seq order
    assert [reading.ts_ms for reading in readings] == [BASE_TS + n for n in range(300)]
    assert readings[0] == Reading("boiler", "temperature", 20.0, BASE_TS, seqs[0])
    stream = recorder.on(TOPICS.stream)
    assert len(stream) == math.ceil(300 / STREAM_BATCH)  # batches as full as allowed
    assert not any(m.retain for m in stream)
    assert await pipeline.publisher.wait_idle(5)
    assert pipeline.spool.depth == 0
    assert pipeline.publisher.published_total == 300
    # The state topic got the first reading at once; the other 299 came within the throttle.
    states = _states(recorder.messages)
    assert states[0] == {"v": 20.0, "ts": BASE_TS, "seq": seqs[0]}
    assert not any(m.retain for m in recorder.on(TOPICS.state("boiler", "temperature")))


async def test_backlog_drains_in_seq_order_while_new_readings_keep_coming(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline(start_link=False)
    backlog = 3000
    for n in range(backlog):
        pipeline.publisher.emit(_reading(float(n), BASE_TS + n))
    assert pipeline.spool.depth == backlog
    pipeline.link.start()
    await pipeline.link.wait_connected()
    for n in range(backlog, backlog + 100):  # new readings while the backlog drains
        pipeline.publisher.emit(_reading(float(n), BASE_TS + n))
        await asyncio.sleep(0)
    readings = await _wait_readings(recorder, backlog + 100, "all readings")
    firsts = first_copies(readings)
    assert [r.value for r in firsts] == [float(n) for n in range(backlog + 100)]
    seqs = [r.seq for r in firsts]
    assert seqs == sorted(seqs)  # oldest first, new ones behind them, each once
    assert await pipeline.publisher.wait_idle(5)
    assert pipeline.spool.depth == 0
    # The backlog never went to the state topic, only the newest reading at each moment: the
    # last one of the backlog (at the connect) or a new one.
    states = _changes(_states(recorder.messages))
    assert states
    assert {s["v"] for s in states} <= {float(n) for n in range(backlog - 1, backlog + 100)}


async def test_non_finite_values_are_dropped_and_counted(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    pipeline.publisher.emit(_reading(math.nan))
    pipeline.publisher.emit(_reading(math.inf))
    pipeline.publisher.emit(_reading(21.5))
    readings = await _wait_readings(recorder, 1, "the finite reading")
    messages = await _wait(recorder, lambda ms: len(_states(ms)) >= 1, "its state")
    assert [r.value for r in readings] == [21.5]
    assert [s["v"] for s in _changes(_states(messages))] == [21.5]
    assert pipeline.publisher.faults.counts["non_finite"] == 2
    assert pipeline.publisher.readings_total == 1


async def test_emit_from_other_threads_reaches_the_broker(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()

    def produce(offset: int) -> None:
        for n in range(100):
            pipeline.publisher.emit(_reading(float(offset + n), BASE_TS + offset + n))

    threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    readings = await _wait_readings(recorder, 300, "300 readings")
    values = sorted(r.value for r in readings)
    assert values == sorted(float(k * 1000 + n) for k in range(3) for n in range(100))
    seqs = [r.seq for r in readings]
    assert seqs == sorted(set(seqs))


async def test_reconnect_publishes_description_discovery_and_current_states(
    make_pipeline: Callable[..., Pipeline], mosquitto: Mosquitto
) -> None:
    # The production delay before current states follow a connect: the recorder below can
    # subscribe to the new broker only once it is up, and states are not retained.
    pipeline = make_pipeline(states_delay_s=STATES_DELAY_S)
    await pipeline.link.wait_connected()
    pipeline.publisher.emit(_reading(19.5))
    assert await pipeline.publisher.wait_idle(5)  # delivered
    mosquitto.kill()  # a fresh broker: nothing retained, nobody knows the bridge
    mosquitto.start()
    late = await asyncio.to_thread(
        Recorder,
        mosquitto.port,
        TOPICS.description,
        TOPICS.discovery("lab_boiler"),
        TOPICS.state("boiler", "temperature"),
    )
    try:
        messages = await _wait(late, lambda ms: len(ms) >= 3, "description, config and state")
    finally:
        late.close()
    by_topic = {m.topic: m.json() for m in messages}
    assert by_topic[TOPICS.description]["devices"][0]["id"] == "boiler"
    assert set(by_topic[TOPICS.discovery("lab_boiler")]["cmps"]) == {"temperature", "fan"}
    state = by_topic[TOPICS.state("boiler", "temperature")]
    assert (state["v"], state["ts"]) == (19.5, BASE_TS)  # the same reading, not a new one
    later = await asyncio.to_thread(
        Recorder, mosquitto.port, TOPICS.description, TOPICS.discovery("lab_boiler")
    )
    try:
        retained = await _wait(later, lambda ms: len(ms) == 2, "retained description, config")
    finally:
        later.close()
    assert all(m.retain for m in retained)


async def test_home_assistant_online_republishes_discovery_and_the_newest_state(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    pipeline.publisher.emit(_reading(22.0))
    await _wait(recorder, lambda ms: len(_states(ms)) >= 1, "the first state")
    pipeline.publisher.emit(_reading(23.0, LATER_TS))  # within the 10 s throttle: no state yet
    newest = (await _wait_readings(recorder, 2, "both readings on the stream"))[-1]
    recorder.publish(TOPICS.ha_status, b"online")
    messages = await _wait(
        recorder, lambda ms: any(m.topic == TOPICS.ha_status for m in ms), "the birth message"
    )
    birth = next(i for i, m in enumerate(messages) if m.topic == TOPICS.ha_status)
    assert {s["v"] for s in _states(messages[:birth])} == {22.0}
    after = await _wait(
        recorder,
        lambda ms: (
            any(m.topic == TOPICS.discovery("lab_boiler") for m in ms[birth:])
            and len(_states(ms[birth:])) >= 1
        ),
        "republished discovery and state",
    )
    # The newest reading, not the one the state topic showed: the throttle is not asked.
    assert _states(after[birth:]) == [{"v": 23.0, "ts": LATER_TS, "seq": newest.seq}]


async def test_output_commands_drive_only_configured_outputs(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    fan = MemoryOutput("boiler", "fan")
    pipeline = make_pipeline(outputs={("boiler", "fan"): fan})
    await pipeline.link.wait_connected()
    pipeline.publisher.output_states()  # what the app does at start-up
    await _wait(recorder, lambda ms: _fan_states(ms) == [False], "the initial fan state")

    recorder.publish(TOPICS.output_set("boiler", "fan"), b"ON")
    await _wait(recorder, lambda ms: _fan_states(ms) == [False, True], "fan on")
    assert fan.state is True

    recorder.publish(TOPICS.output_set("boiler", "pump"), b"ON")  # not in the config
    recorder.publish(TOPICS.output_set("boiler", "fan"), b"BLINK")  # not a switch command
    recorder.publish(TOPICS.output_set("boiler", "fan"), b"off")
    await _wait(recorder, lambda ms: _fan_states(ms) == [False, True, False], "fan off")
    assert fan.state is False
    assert pipeline.publisher.faults.counts["unknown_output"] == 1
    assert pipeline.publisher.faults.counts["bad_output_command"] == 1

    fan.fail = True
    recorder.publish(TOPICS.output_set("boiler", "fan"), b"ON")  # the hardware refuses
    assert await asyncio.to_thread(fan.refused.wait, 5)
    fan.fail = False
    recorder.publish(TOPICS.output_set("boiler", "fan"), b"OFF")
    readings = await _wait_readings(recorder, 4, "the fan state again")
    assert [r.value for r in readings] == [False, True, False, False]  # never claimed to be on
    # The state topic publishes every change, never a repeat of the same state.
    assert _fan_states(recorder.messages) == [False, True, False]
    assert pipeline.publisher.faults.counts["output_failed"] == 1


def _fan_states(messages: list[Message]) -> list[Any]:
    """The fan's states, each reading once (the re-send after the connect repeats one)."""
    return [state["v"] for state in _changes(_states(messages, sensor="fan"))]


async def test_devices_that_left_the_config_get_an_empty_retained_config(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder, mosquitto: Mosquitto
) -> None:
    garage_topic = TOPICS.discovery("lab_garage")
    first = make_pipeline(devices=[BOILER, GARAGE])
    await _wait(recorder, lambda ms: any(m.topic == garage_topic for m in ms), "garage config")
    await first.close()

    second = make_pipeline(devices=[BOILER])
    messages = await _wait(
        recorder,
        lambda ms: [m.payload for m in ms if m.topic == garage_topic][-1] == b"",
        "removal",
    )
    assert [m.payload for m in messages if m.topic == garage_topic][-1] == b""
    late = Recorder(mosquitto.port, TOPICS.discovery("+"), "test/marker")
    try:
        late.publish("test/marker", b"after the retained ones")  # in order on one connection
        retained = await _wait(late, lambda ms: ms[-1].topic == "test/marker", "marker")
    finally:
        late.close()
    assert [m.topic for m in retained if m.retain] == [TOPICS.discovery("lab_boiler")]
    # PUBACKs come in order: once a later reading is acknowledged, so is the removal.
    second.publisher.emit(_reading(1.0))
    await _wait_readings(recorder, 1, "a reading")
    assert await second.publisher.wait_idle(5)
    assert json.loads(second.spool.get_meta(PUBLISHED_OBJECT_IDS_KEY) or "") == ["lab_boiler"]
