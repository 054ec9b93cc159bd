"""The MQTT link against real Mosquitto brokers: PUBACKs, subscriptions, failover, fail-back."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from iot_monitor_bridge.config import BrokerConfig, MqttConfig, validate
from iot_monitor_bridge.runtime.mqtt import (
    BACKOFF_MAX_S,
    MAX_INFLIGHT,
    PROBE_INTERVAL_S,
    RETRY_DELAY_S,
    MqttLink,
)
from iot_monitor_bridge.runtime.publisher import LoopHop
from iot_monitor_bridge.runtime.status import BrokerStatus
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.mqtt_client import Message, Recorder
from tests.support.virtual_clock import VirtualClockLoop

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


# ----- reconnecting: soon after a broker returns, without hammering one that is absent ----------


async def test_reconnects_within_2_s_of_the_broker_returning(
    tmp_path: Path, link_factory: list[MqttLink]
) -> None:
    broker = Mosquitto(tmp_path / "b").start()
    try:
        link, events = _link(link_factory, _config(broker, failover_after=1.0))
        link.start()
        await events.next_up()
        broker.stop()
        # The outage: long enough for the pause between rounds to have grown to 4 s.
        await asyncio.sleep(5.0)
        assert not link.connected
        returning = time.monotonic()
        await asyncio.to_thread(broker.start)  # returns once the broker accepts connections
        up = await events.next_up()
        back_after = time.monotonic() - returning  # the broker's start-up included
        assert (up.port, up.connected) == (broker.port, True)
        assert back_after < 2.0
        assert events.downs == 1
    finally:
        broker.kill()


class Connects:
    """Virtual times of every TCP connect and of every full MQTT connect the link makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, loop: VirtualClockLoop) -> None:
        self.tcp: list[float] = []
        self.mqtt: list[float] = []
        create_connection = socket.create_connection
        connect = mqtt.Client.connect

        def counted_create_connection(*args: Any, **kwargs: Any) -> socket.socket:
            self.tcp.append(loop.time())
            return create_connection(*args, **kwargs)

        def counted_connect(client: mqtt.Client, *args: Any, **kwargs: Any) -> Any:
            self.mqtt.append(loop.time())
            return connect(client, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", counted_create_connection)
        monkeypatch.setattr(mqtt.Client, "connect", counted_connect)

    def probes(self, after: float = -1.0, until: float = float("inf")) -> int:
        """TCP connects that were not part of an MQTT connect (each of those makes one)."""
        tcp = sum(after < t <= until for t in self.tcp)
        return tcp - sum(after < t <= until for t in self.mqtt)


def _on_virtual_clock(
    config: MqttConfig, scenario: Callable[[VirtualClockLoop], Awaitable[None]]
) -> None:
    """Run a link with ``config`` on a virtual clock while ``scenario`` runs."""
    loop = VirtualClockLoop()

    async def main() -> None:
        link = MqttLink(config, client_id="virtual", availability_topic=AVAILABILITY)
        link.start()
        try:
            await scenario(loop)
        finally:
            await link.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


WINDOW_S = 600.0
"""Ten minutes of the link's life, on the virtual clock."""


def test_an_absent_broker_gets_a_bounded_rate_of_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing listens on the broker's port: full MQTT connects back off to one every
    ``BACKOFF_MAX_S``; in between, only bare TCP probes, at most one per ``PROBE_INTERVAL_S``."""
    config = MqttConfig(brokers=[BrokerConfig(host="127.0.0.1", port=free_port())])
    counted: list[Connects] = []

    async def ten_minutes(loop: VirtualClockLoop) -> None:
        counted.append(Connects(monkeypatch, loop))
        await asyncio.sleep(WINDOW_S)

    _on_virtual_clock(config, ten_minutes)
    (connects,) = counted
    gaps = [b - a for a, b in zip(connects.mqtt, connects.mqtt[1:], strict=False)]
    assert gaps == sorted(gaps)  # the pauses only grow...
    assert gaps[0] >= RETRY_DELAY_S
    assert gaps[-1] == pytest.approx(BACKOFF_MAX_S)  # ...up to their cap
    assert WINDOW_S / BACKOFF_MAX_S - 1 <= len(connects.mqtt) <= WINDOW_S / BACKOFF_MAX_S + 6
    probes = connects.probes()
    assert 0.9 * WINDOW_S / PROBE_INTERVAL_S <= probes <= WINDOW_S / PROBE_INTERVAL_S + 1


def test_a_broker_that_listens_but_never_answers_mqtt_is_not_probed() -> None:
    """Every connection the link opens is counted as the listening socket's accept: a
    server that takes TCP connections but never answers gets full connects only, backing
    off; no probes on top (they would learn nothing from it)."""
    silent = socket.create_server(("127.0.0.1", 0), backlog=512)
    port = silent.getsockname()[1]
    config = MqttConfig(brokers=[BrokerConfig(host="127.0.0.1", port=port)], failover_after=2)

    async def ten_minutes(loop: VirtualClockLoop) -> None:
        await asyncio.sleep(WINDOW_S)

    try:
        _on_virtual_clock(config, ten_minutes)
        silent.setblocking(False)
        accepted = 0
        while True:
            try:
                connection, _ = silent.accept()
            except BlockingIOError:
                break
            connection.close()
            accepted += 1
    finally:
        silent.close()
    attempt_s = 1.0  # failover_after / 2: how long each connect waits for a CONNACK
    assert 2 <= accepted <= WINDOW_S / (BACKOFF_MAX_S + attempt_s) + 6


def test_a_broker_that_comes_back_is_connected_within_a_probe_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deep in the backoff (full connects every 10 s), the broker's port starts listening:
    the next probe finds it and the link connects at once, not at the next round."""
    port = free_port()
    config = MqttConfig(brokers=[BrokerConfig(host="127.0.0.1", port=port)])
    seen: dict[str, Any] = {}

    async def absent_then_back(loop: VirtualClockLoop) -> None:
        seen["connects"] = Connects(monkeypatch, loop)
        await asyncio.sleep(96.2)  # rounds are 10 s apart by now (at 85.5, 95.5, 105.5 s)
        seen["server"] = socket.create_server(("127.0.0.1", port), backlog=64)
        seen["back_at"] = loop.time()
        await asyncio.sleep(60.0)

    try:
        _on_virtual_clock(config, absent_then_back)
    finally:
        if "server" in seen:
            seen["server"].close()
    connects: Connects = seen["connects"]
    back_at: float = seen["back_at"]
    after = [t for t in connects.mqtt if t >= back_at]
    assert after[0] - back_at <= PROBE_INTERVAL_S
    # The server never answers MQTT: from then on, full connects back off from the start,
    # and the listening port is not probed.
    assert len(after) <= 8
    assert connects.probes(after[0], back_at + 60.0) == 0


async def test_a_keepalive_beyond_mqtts_limit_is_sent_as_the_limit(
    mosquitto: Mosquitto, link_factory: list[MqttLink]
) -> None:
    """A 16-bit field on the wire: the largest duration the file takes (a year) is cut to
    65535 s rather than failing every connect."""
    link, events = _link(link_factory, _config(mosquitto, keepalive="8760h"))
    assert link.keepalive == 65_535
    link.start()
    assert (await events.next_up()).connected
