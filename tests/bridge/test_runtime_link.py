"""The MQTT link against real Mosquitto brokers: PUBACKs, subscriptions, failover, fail-back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from iot_monitor_bridge.config import BrokerConfig, MqttConfig, validate
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT, MqttLink
from iot_monitor_bridge.runtime.publisher import LoopHop
from iot_monitor_bridge.runtime.status import BrokerStatus
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder

AVAILABILITY = "t/bridge/availability"


def _config(*brokers: Mosquitto, **settings: float | str) -> MqttConfig:
    return validate(
        {"brokers": [BrokerConfig(host=b.host, port=b.port) for b in brokers], **settings},
        MqttConfig,
    )


class LinkEvents:
    """What a link reported, awaitable."""

    def __init__(self, link: MqttLink) -> None:
        self.ups: asyncio.Queue[BrokerStatus] = asyncio.Queue()
        self.downs = 0
        self.acked: list[int] = []
        self._acked_changed = asyncio.Event()
        link.on_up.append(self.ups.put_nowait)
        link.on_down.append(self._down)
        link.on_published = self._published

    def _down(self) -> None:
        self.downs += 1

    def _published(self, mids: list[int]) -> None:
        self.acked.extend(mids)
        self._acked_changed.set()

    async def next_up(self, within: float = 10.0) -> BrokerStatus:
        return await asyncio.wait_for(self.ups.get(), within)

    async def wait_acked(self, mids: set[int], within: float = 10.0) -> None:
        async def all_acked() -> None:
            while not mids <= set(self.acked):
                self._acked_changed.clear()
                await self._acked_changed.wait()

        await asyncio.wait_for(all_acked(), within)


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[Mosquitto, Mosquitto]]:
    primary = Mosquitto(tmp_path / "primary").start()
    secondary = Mosquitto(tmp_path / "secondary").start()
    yield primary, secondary
    primary.kill()
    secondary.kill()


@pytest.fixture
async def link_factory() -> AsyncIterator[list[MqttLink]]:
    links: list[MqttLink] = []
    yield links
    for link in links:
        await link.close()


def _link(links: list[MqttLink], config: MqttConfig) -> tuple[MqttLink, LinkEvents]:
    link = MqttLink(config, client_id="test-bridge", availability_topic=AVAILABILITY)
    links.append(link)
    return link, LinkEvents(link)


def _availability(recorder: Recorder) -> list[bytes]:
    return [m.payload for m in recorder.on(AVAILABILITY)]


async def _wait(recorder: Recorder, predicate: object, what: str) -> list[Message]:
    return await asyncio.to_thread(recorder.wait_for, predicate, 10.0, what)  # type: ignore[arg-type]


async def test_loop_hop_runs_calls_from_other_threads_in_order() -> None:
    loop = asyncio.get_running_loop()
    hop = LoopHop(loop)
    seen: list[tuple[int, int]] = []
    done = asyncio.Event()

    def record(thread_ident: int, value: int) -> None:
        assert thread_ident != threading.get_ident()  # posted elsewhere, run here
        seen.append((thread_ident, value))
        if value == 999:
            done.set()

    def explode() -> None:
        raise RuntimeError("a failing call does not stop the others")

    def producer() -> None:
        for value in range(1000):
            hop.post(record, threading.get_ident(), value)
            if value == 500:
                hop.post(explode)

    thread = threading.Thread(target=producer)
    thread.start()
    await asyncio.wait_for(done.wait(), 5)
    thread.join()
    assert [value for _, value in seen] == list(range(1000))


async def test_publish_is_acknowledged_and_online_is_retained(
    mosquitto: Mosquitto, recorder: Recorder, link_factory: list[MqttLink]
) -> None:
    link, events = _link(link_factory, _config(mosquitto))
    assert link.publish("t/x", b"before") is None  # not connected: nothing is queued
    link.start()
    up = await events.next_up()
    assert (up.host, up.port, up.connected, up.index) == (mosquitto.host, mosquitto.port, True, 0)
    assert link.broker == up
    mids = {link.publish("t/x", f"{n}".encode()) for n in range(50)}
    assert None not in mids
    await events.wait_acked({mid for mid in mids if mid is not None})
    messages = await _wait(
        recorder, lambda ms: len([m for m in ms if m.topic == "t/x"]) == 50, "50"
    )
    assert [m.payload for m in messages if m.topic == "t/x"] == [f"{n}".encode() for n in range(50)]
    assert _availability(recorder) == [b"online"]
    assert await link.close() is True  # offline acknowledged
    await _wait(recorder, lambda _: _availability(recorder) == [b"online", b"offline"], "offline")
    late = Recorder(mosquitto.port, AVAILABILITY)
    try:
        retained = await _wait(late, bool, "retained availability")
        assert (retained[0].payload, retained[0].retain) == (b"offline", True)
    finally:
        late.close()


async def test_subscriptions_are_restored_after_the_broker_restarts(
    tmp_path: Path, link_factory: list[MqttLink]
) -> None:
    broker = Mosquitto(tmp_path / "b").start()
    try:
        link, events = _link(link_factory, _config(broker))
        received: list[tuple[str, bytes]] = []
        got = asyncio.Event()

        def handler(topic: str, payload: bytes) -> None:
            received.append((topic, payload))
            got.set()

        link.subscribe("t/cmd/#", handler)
        link.start()
        await events.next_up()
        broker.kill()
        broker.start()
        await events.next_up()
        assert events.downs == 1
        # The broker handles one client's packets in order: once the link receives its own
        # message, its SUBSCRIBE (sent before it) is in force.
        link.publish("t/cmd/self", b"")
        await asyncio.wait_for(got.wait(), 10)
        got.clear()
        sender = await asyncio.to_thread(Recorder, broker.port, "unused/topic")
        try:
            await asyncio.to_thread(sender.publish, "t/cmd/a", b"hello")
            await asyncio.wait_for(got.wait(), 10)
        finally:
            sender.close()
        assert received == [("t/cmd/self", b""), ("t/cmd/a", b"hello")]
    finally:
        broker.kill()


async def test_fails_over_within_failover_after_and_fails_back(
    brokers: tuple[Mosquitto, Mosquitto], link_factory: list[MqttLink]
) -> None:
    primary, secondary = brokers
    link, events = _link(
        link_factory, _config(primary, secondary, failover_after=1.0, primary_probe_interval=0.3)
    )
    link.start()
    assert (await events.next_up()).index == 0
    on_secondary = Recorder(secondary.port, AVAILABILITY)
    try:
        primary.kill()
        lost_at = time.monotonic()
        up = await events.next_up()
        assert (up.index, up.port) == (1, secondary.port)
        assert time.monotonic() - lost_at < 1.0 + 0.5  # failover_after, plus the attempt itself
        await _wait(on_secondary, lambda _: _availability(on_secondary) == [b"online"], "online")
        assert link.failovers == 1

        primary.start()
        up = await events.next_up()
        assert (up.index, up.port) == (0, primary.port)
        assert link.failovers == 2
        # The broker left behind is told the bridge is offline there (retained).
        await _wait(
            on_secondary,
            lambda _: _availability(on_secondary) == [b"online", b"offline"],
            "offline on the secondary",
        )
        mid = link.publish("t/after-failback", b"x")
        assert mid is not None
        await events.wait_acked({mid})
    finally:
        on_secondary.close()


async def test_starts_on_the_first_reachable_broker(
    tmp_path: Path, link_factory: list[MqttLink]
) -> None:
    down = Mosquitto(tmp_path / "down")  # never started: connections are refused
    up_broker = Mosquitto(tmp_path / "up").start()
    try:
        link, events = _link(link_factory, _config(down, up_broker, primary_probe_interval=60))
        link.start()
        status = await events.next_up()
        assert (status.index, status.port) == (1, up_broker.port)
        assert link.failovers == 0  # the first connection is not a failover
        assert sum(link.faults.counts.values()) >= 1  # the refused primary was counted
    finally:
        up_broker.kill()


async def test_mqtt5_honours_the_brokers_receive_maximum(
    mosquitto: Mosquitto, link_factory: list[MqttLink]
) -> None:
    link, events = _link(link_factory, _config(mosquitto, protocol="5"))
    link.start()
    await events.next_up()
    assert link.window == 20  # Mosquitto's default Receive Maximum
    mids = {link.publish("t/v5", b"x") for _ in range(100)}
    assert None not in mids
    assert len(mids) == 100
    await events.wait_acked({mid for mid in mids if mid is not None})


async def test_mqtt311_uses_the_full_window(
    mosquitto: Mosquitto, link_factory: list[MqttLink]
) -> None:
    link, events = _link(link_factory, _config(mosquitto))
    link.start()
    await events.next_up()
    assert link.window == MAX_INFLIGHT
