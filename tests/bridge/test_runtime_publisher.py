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
from iot_monitor_bridge.drivers.base import OutputDriver, now_ms
from iot_monitor_bridge.model import DeviceSpec, OutputSpec, Reading, SensorSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.protocol.topics import Topics
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import (
    PUBLISHED_OBJECT_IDS_KEY,
    STATES_DELAY_S,
    Publisher,
)
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder

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


def _first_sent(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reading at its first arrival; a repeat (a current state) must be identical."""
    first: dict[int, dict[str, Any]] = {}
    for state in states:
        assert first.setdefault(state["seq"], state) == state
    return list(first.values())


def _count_at_least(topic: str, count: int) -> Callable[[list[Message]], bool]:
    """A predicate that scans each message once (the recorder re-checks on every message)."""
    scanned = seen = 0

    def predicate(messages: list[Message]) -> bool:
        nonlocal scanned, seen
        seen += sum(1 for m in messages[scanned:] if m.topic == topic)
        scanned = len(messages)
        return seen >= count

    return predicate


async def _wait(
    recorder: Recorder, predicate: Callable[[list[Message]], bool], what: str
) -> list[Message]:
    return await asyncio.to_thread(recorder.wait_for, predicate, 15.0, what)


def _reading(value: float | bool, ts_ms: int = BASE_TS, sensor: str = "temperature") -> Reading:
    return Reading("boiler", sensor, value, ts_ms)


async def test_readings_are_published_and_leave_the_spool_on_puback(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    for n in range(300):
        pipeline.publisher.emit(_reading(20 + n / 10, BASE_TS + n))
    messages = await _wait(recorder, lambda ms: len(_states(ms)) >= 300, "300 readings")
    states = _states(messages)
    seqs = [state["seq"] for state in states]
    assert len(seqs) == 300
    assert seqs == sorted(set(seqs))  # each once, in seq order
    assert [state["ts"] for state in states] == [BASE_TS + n for n in range(300)]
    assert states[0]["v"] == 20.0
    assert not any(m.retain for m in messages if m.topic == TOPICS.state("boiler", "temperature"))
    assert await pipeline.publisher.wait_idle(5)
    assert pipeline.spool.depth == 0
    assert pipeline.publisher.published_total == 300


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
    state_topic = TOPICS.state("boiler", "temperature")
    messages = await _wait(recorder, _count_at_least(state_topic, backlog + 100), "all readings")
    states = _first_sent(_states(messages))
    assert [s["v"] for s in states] == [float(n) for n in range(backlog + 100)]
    seqs = [s["seq"] for s in states]
    assert seqs == sorted(seqs)  # oldest first, new ones behind them, each once
    assert await pipeline.publisher.wait_idle(5)
    assert pipeline.spool.depth == 0


async def test_non_finite_values_are_dropped_and_counted(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    pipeline.publisher.emit(_reading(math.nan))
    pipeline.publisher.emit(_reading(math.inf))
    pipeline.publisher.emit(_reading(21.5))
    messages = await _wait(recorder, lambda ms: len(_states(ms)) >= 1, "the finite reading")
    assert [s["v"] for s in _states(messages)] == [21.5]
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
    messages = await _wait(recorder, lambda ms: len(_states(ms)) >= 300, "300 readings")
    values = sorted(s["v"] for s in _states(messages))
    assert values == sorted(float(k * 1000 + n) for k in range(3) for n in range(100))


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


async def test_home_assistant_online_republishes_discovery_and_states(
    make_pipeline: Callable[..., Pipeline], recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    await pipeline.link.wait_connected()
    pipeline.publisher.emit(_reading(22.0))
    before = await _wait(recorder, lambda ms: len(_states(ms)) == 1, "a reading")
    configs_before = sum(1 for m in before if m.topic == TOPICS.discovery("lab_boiler"))
    recorder.publish(TOPICS.ha_status, b"online")
    after = await _wait(
        recorder,
        lambda ms: (
            sum(1 for m in ms if m.topic == TOPICS.discovery("lab_boiler")) > configs_before
            and len(_states(ms)) == 2
        ),
        "republished discovery and state",
    )
    first, again = _states(after)
    assert again == first  # the same reading: seq and ts unchanged


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
    messages = await _wait(recorder, lambda ms: len(_fan_states(ms)) == 4, "fan state again")
    assert _fan_states(messages) == [False, True, False, False]  # never claimed to be on
    assert pipeline.publisher.faults.counts["output_failed"] == 1


def _fan_states(messages: list[Message]) -> list[Any]:
    return [state["v"] for state in _states(messages, sensor="fan")]


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
    await _wait(recorder, lambda ms: len(_states(ms)) >= 1, "a reading")
    assert await second.publisher.wait_idle(5)
    assert json.loads(second.spool.get_meta(PUBLISHED_OBJECT_IDS_KEY) or "") == ["lab_boiler"]
