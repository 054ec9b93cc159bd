"""Reliability over real brokers: the bridge process, real Mosquitto processes, every reading
counted by ``seq`` on the stream.

A ``SeqConsumer`` does what the integration does with the stream: it keeps the first copy
of each ``seq`` and ignores repeats. It holds a persistent MQTT session (QoS 1) on every
broker, so what the bridge publishes while the consumer is reconnecting after a broker
restart is queued for it by the broker instead of being lost to the test. At the end of a
scenario the bridge is stopped and the readings still in its spool file are added: a gap in
``seq`` between the first and the last is a lost reading.

Outages are real: the broker is stopped (SIGTERM) or killed (SIGKILL) and time passes.
``test_a_60_s_broker_outage_loses_nothing`` takes about 70 s (the outage the requirement
asks for); it is marked ``slow``. The others take a few seconds each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iot_monitor_bridge.config import BrokerConfig, Ds18b20Config, MqttConfig, SpoolConfig
from iot_monitor_bridge.contract.readings import decode_stream
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers.base import now_ms
from iot_monitor_bridge.drivers.onewire import Ds18b20Driver
from iot_monitor_bridge.model import Reading
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.mqtt import MqttLink
from iot_monitor_bridge.runtime.publisher import REPLAY_S, Publisher
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.bridge_process import BridgeProcess
from tests.support.drivers import record_faults, running
from tests.support.mosquitto import Mosquitto, free_port, wait_for_port
from tests.support.mqtt_client import Message, Recorder, stream_readings
from tests.support.tcp_proxy import TcpProxy
from tests.support.tls import make_pki, observer_listener, password_file, secure_listener

BRIDGE = "lab-pi"
ROOT = f"iot_monitor/{BRIDGE}"
STREAM = f"{ROOT}/stream"
AVAILABILITY = f"{ROOT}/availability"
COMMAND = f"{ROOT}/command"
RESULT = f"{ROOT}/command/result"
RATE = 12 * 5 * 4
"""Readings per second of ``FLEET``: 12 devices x 5 sensors x 4 Hz."""
FLEET = {"id": "fleet", "simulate": {"count": 12, "rate_hz": 4, "seed": 3}}
OUTAGE_S = 60.0
PASSWORD = "correct-horse-battery-staple"


# ----- the consumer --------------------------------------------------------------------------


class SeqConsumer:
    """The stream's readings de-duplicated by ``seq`` from one or more brokers; other messages
    as they came."""

    def __init__(self, *brokers: Mosquitto) -> None:
        self._cond = threading.Condition()
        self.readings: dict[int, Reading] = {}
        """seq -> the reading at its first arrival."""
        self.first_arrival: dict[int, float] = {}
        """Broker port -> monotonic time of the first reading that came through it."""
        self.latest_arrival: dict[int, float] = {}
        self.mismatched: list[int] = []
        """Seqs that arrived twice with different contents (must stay empty)."""
        self.others: list[tuple[int, str, bytes]] = []
        """(broker port, topic, payload) of everything that is not the stream."""
        self.connects: dict[int, int] = {}
        self._clients: dict[int, mqtt.Client] = {}
        for broker in brokers:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"ha-{broker.port}",
                clean_session=False,
                protocol=mqtt.MQTTv311,
            )
            client.reconnect_delay_set(1, 1)
            client.on_connect = self._on_connect
            client.on_message = self._on_message
            client.user_data_set(broker.port)
            client.connect(broker.host, broker.port)
            client.loop_start()
            self._clients[broker.port] = client
        for port in self._clients:
            self.wait_connected(port, 1)

    def wait_connected(self, port: int, times: int) -> None:
        """Until the client on ``port`` has connected (and subscribed) ``times`` times."""
        self.wait_for(lambda c: c.connects.get(port, 0) >= times, 10, f"connect {times} on {port}")

    def _on_connect(self, client: mqtt.Client, port: int, *_: Any) -> None:
        client.subscribe([(STREAM, 1), (AVAILABILITY, 1), (RESULT, 1)])
        with self._cond:
            self.connects[port] = self.connects.get(port, 0) + 1
            self._cond.notify_all()

    def _on_message(self, _client: mqtt.Client, port: int, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            if msg.topic == STREAM:
                for reading in decode_stream(msg.payload):
                    known = self.readings.setdefault(reading.seq, reading)
                    if known != reading:
                        self.mismatched.append(reading.seq)
                now = time.monotonic()
                self.first_arrival.setdefault(port, now)
                self.latest_arrival[port] = now
            else:
                self.others.append((port, msg.topic, msg.payload))
            self._cond.notify_all()

    def of(self, device_id: str, sensor_id: str) -> list[Reading]:
        """The readings of one sensor received so far, by seq."""
        key = (device_id, sensor_id)
        with self._cond:
            mine = [r for r in self.readings.values() if (r.device_id, r.sensor_id) == key]
        return sorted(mine, key=lambda r: r.seq)

    def wait_for(self, predicate: Callable[[SeqConsumer], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"timed out waiting for {what}")

    def seqs(self) -> set[int]:
        with self._cond:
            return set(self.readings)

    def on(self, port: int, topic: str) -> list[bytes]:
        with self._cond:
            return [payload for p, t, payload in self.others if p == port and t == topic]

    def publish(self, broker: Mosquitto, topic: str, payload: str | bytes) -> None:
        self._clients[broker.port].publish(topic, payload, qos=1)

    def command(self, broker: Mosquitto, command: dict[str, Any]) -> dict[str, Any]:
        """Send a command through ``broker`` and return its result."""
        done = len(self.results(broker.port, command["id"]))
        self.publish(broker, COMMAND, json.dumps(command))
        self.wait_for(lambda c: len(c.results(broker.port, command["id"])) > done, 10, f"{command}")
        return self.results(broker.port, command["id"])[-1]

    def results(self, port: int, command_id: str | None) -> list[dict[str, Any]]:
        results = [json.loads(payload) for payload in self.on(port, RESULT)]
        return [result for result in results if result["id"] == command_id]

    def close(self) -> None:
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()


# ----- the bridge process --------------------------------------------------------------------


@pytest.fixture
def lab_pi(tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    """``lab_pi(brokers, devices, **sections)`` makes the bridge ``lab-pi`` (health every half
    second), not started yet. Each is killed at the end and must not have logged a traceback."""
    made: list[BridgeProcess] = []

    def make(
        brokers: list[Mosquitto], devices: list[dict[str, Any]], **sections: Any
    ) -> BridgeProcess:
        bridge = BridgeProcess(
            tmp_path,
            brokers,
            devices,
            bridge={"id": BRIDGE, "name": "Lab Pi"},
            health={"interval": 0.5},
            **sections,
        )
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.close()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    made: list[Mosquitto] = []

    def make(name: str, **settings: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / name, **settings)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.kill()


@pytest.fixture
def consumer_on() -> Iterator[Callable[..., SeqConsumer]]:
    """Makes Home Assistant's stand-in on these brokers: ``consumer_on(*brokers)``."""
    made: list[SeqConsumer] = []

    def make(*on: Mosquitto) -> SeqConsumer:
        consumer = SeqConsumer(*on)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def assert_no_gap(consumer: SeqConsumer, bridge: BridgeProcess, broker: Mosquitto) -> set[int]:
    """Stop the bridge (connected to ``broker``); every seq from the first received to the
    last handed out is accounted for: received, or still in the spool (sent at next start).

    The bridge's last message is ``offline``; a broker passes one client's messages on in
    order, so once it has arrived, so has every reading the broker acknowledged before it.
    """
    offline = consumer.on(broker.port, AVAILABILITY).count(b"offline")
    bridge.stop()
    consumer.wait_for(
        lambda c: c.on(broker.port, AVAILABILITY).count(b"offline") > offline, 10, "offline"
    )
    received = consumer.seqs()
    left = bridge.spool_seqs()
    seen = received | left
    first, last = min(received), max(seen)
    missing = [seq for seq in range(first, last + 1) if seq not in seen]
    if missing:
        around = {
            seq: consumer.readings.get(seq, "in the spool" if seq in left else "lost")
            for seq in range(missing[0] - 3, missing[0] + 4)
        }
        raise AssertionError(f"{len(missing)} of {last - first + 1} readings lost: {around}")
    assert consumer.mismatched == []
    return seen


def _count_at_least(count: int) -> Callable[[SeqConsumer], bool]:
    return lambda consumer: len(consumer.readings) >= count


# ----- store and forward -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_60_s_broker_outage_loses_nothing(
    brokers: Callable[..., Mosquitto],
    consumer_on: Callable[..., SeqConsumer],
    lab_pi: Callable[..., BridgeProcess],
) -> None:
    broker = brokers("broker", persistence=True).start()
    consumer = consumer_on(broker)
    bridge = lab_pi([broker], [FLEET]).start()
    consumer.wait_for(_count_at_least(2 * RATE), 20, "readings before the outage")
    before = bridge.health()

    broker.stop()
    bridge.wait_health(lambda h: not h["broker"]["connected"], 10, "the bridge to notice")
    time.sleep(OUTAGE_S)  # the outage itself: the requirement is that this much time passes
    during = bridge.health()
    produced = during["readings_total"] - before["readings_total"]
    rate = produced / (during["uptime_s"] - before["uptime_s"])
    assert rate >= 200, f"only {rate:.0f} readings/s"
    assert during["spool_depth"] >= 0.9 * RATE * OUTAGE_S
    assert during["status"] == "degraded"

    broker.start()
    backlog_end = during["readings_total"]
    bridge.wait_health(
        lambda h: h["broker"]["connected"] and h["published_total"] >= backlog_end,
        60,
        "the backlog to drain",
    )
    consumer.wait_for(_count_at_least(backlog_end), 60, "the backlog at the consumer")
    seen = assert_no_gap(consumer, bridge, broker)
    assert len(seen) >= backlog_end


def test_primary_killed_failover_within_5_s_then_failback(
    brokers: Callable[..., Mosquitto],
    consumer_on: Callable[..., SeqConsumer],
    lab_pi: Callable[..., BridgeProcess],
) -> None:
    primary = brokers("primary", persistence=True).start()
    secondary = brokers("secondary").start()
    consumer = consumer_on(primary, secondary)
    # A clean restart saves the consumer's session to the primary's persistence file, so it
    # is there again after the primary is killed and restarted below.
    primary.stop()
    primary.start()
    consumer.wait_connected(primary.port, 2)
    bridge = lab_pi(
        [primary, secondary],
        [FLEET],
        mqtt={"failover_after": 5, "primary_probe_interval": 1},
    ).start()
    consumer.wait_for(_count_at_least(RATE), 20, "readings on the primary")

    primary.kill()
    killed = time.monotonic()
    consumer.wait_for(lambda c: secondary.port in c.first_arrival, 10, "readings on secondary")
    assert consumer.first_arrival[secondary.port] - killed < 5.0
    on_secondary = bridge.health()
    assert (on_secondary["broker"]["port"], on_secondary["broker"]["index"]) == (
        secondary.port,
        1,
    )
    ping = consumer.command(secondary, {"id": "on-secondary", "command": "ping"})
    assert ping["ok"] is True  # the command topic was subscribed again on the secondary

    primary.start()
    restarted = time.monotonic()
    consumer.wait_for(
        lambda c: c.latest_arrival.get(primary.port, 0) > restarted, 15, "fail-back to primary"
    )
    back = bridge.wait_health(lambda h: h["broker"]["index"] == 0, 10, "fail-back in /health")
    assert back["failovers"] == 2
    assert consumer.command(primary, {"id": "on-primary", "command": "ping"})["ok"] is True
    # Availability is right on each broker: the one left behind was told ``offline``.
    consumer.wait_for(
        lambda c: c.on(secondary.port, AVAILABILITY) == [b"online", b"offline"],
        10,
        "offline on the secondary",
    )
    assert consumer.on(primary.port, AVAILABILITY)[-1] == b"online"
    assert_no_gap(consumer, bridge, primary)


def test_bridge_killed_restart_delivers_every_committed_reading(
    brokers: Callable[..., Mosquitto],
    consumer_on: Callable[..., SeqConsumer],
    lab_pi: Callable[..., BridgeProcess],
) -> None:
    broker = brokers("broker", persistence=True).start()
    consumer = consumer_on(broker)
    bridge = lab_pi([broker], [FLEET]).start()
    consumer.wait_for(_count_at_least(RATE), 20, "readings")
    settings = {"health": {"interval": "2s"}}
    changed = consumer.command(broker, {"id": "s1", "command": "set_config", "settings": settings})
    assert changed["ok"] is True

    broker.stop()  # readings pile up in the spool and get committed
    bridge.wait_health(lambda h: h["spool_depth"] >= 4 * RATE, 20, "a backlog")
    bridge.kill()
    killed_ms = time.time_ns() // 1_000_000
    committed = bridge.spool_seqs()
    assert len(committed) >= 3 * RATE

    broker.start()
    bridge.start()
    consumer.wait_for(lambda c: committed <= c.seqs(), 30, "every committed reading")
    consumer.wait_for(
        lambda c: sum(r.ts_ms > killed_ms for r in c.readings.values()) >= RATE,
        20,
        "readings of the restarted bridge",
    )
    first_run = {seq for seq, reading in consumer.readings.items() if reading.ts_ms <= killed_ms}
    second_run = set(consumer.readings) - first_run
    assert min(second_run) > max(first_run | committed)  # continues, never reuses
    # The remote setting was stored before the kill and applied again at start.
    result = consumer.command(broker, {"id": "g1", "command": "get_config"})["result"]
    assert result["overrides"] == {"health": {"interval": 2.0}}


def test_a_full_spool_drops_the_oldest_counts_them_and_keeps_running(
    brokers: Callable[..., Mosquitto],
    consumer_on: Callable[..., SeqConsumer],
    lab_pi: Callable[..., BridgeProcess],
) -> None:
    broker = brokers("broker", persistence=True).start()
    consumer = consumer_on(broker)
    broker.stop()  # the consumer's session is saved; the bridge starts with no broker
    bound = 100  # the smallest the configuration allows
    bridge = lab_pi([broker], [FLEET], spool={"max_readings": bound})
    started_ms = time.time_ns() // 1_000_000
    bridge.start()
    full = bridge.wait_health(lambda h: h["spool_dropped"] >= 500, 30, "drops")
    assert full["spool_depth"] <= bound + SpoolConfig().commit_every
    assert bridge.running

    broker.start()
    consumer.wait_for(
        lambda c: any(r.value >= 500 for r in c.of("bridge", "spool_dropped")),
        20,
        "the spool_dropped sensor",
    )
    assert_no_gap(consumer, bridge, broker)  # what is left: one unbroken run of the newest
    fleet_ts = [r.ts_ms for r in consumer.readings.values() if r.device_id.startswith("fleet_")]
    # At RATE readings/s, the 500 dropped first cover about two seconds: none of them came.
    assert min(fleet_ts) > started_ms + 1_500


def _availability(messages: list[Message]) -> list[bytes]:
    return [m.payload for m in messages if m.topic == AVAILABILITY]


def test_back_online_within_2_s_of_the_network_returning(
    brokers: Callable[..., Mosquitto], lab_pi: Callable[..., BridgeProcess]
) -> None:
    """The network between bridge and broker goes away for long enough that the bridge's
    retries have backed off to several seconds; once it is back, ``online`` (and then the
    backlog) is at the broker within 2 s. An observer on the broker itself, not behind the
    proxy, sees when."""
    broker = brokers("broker").start()
    proxy = TcpProxy(broker.host, broker.port).start()
    observer = Recorder(broker.port, AVAILABILITY)
    try:
        fleet = {"id": "fleet", "simulate": {"count": 2, "rate_hz": 2}}
        via_proxy = [{"host": proxy.host, "port": proxy.port}]
        bridge = lab_pi([], [fleet], mqtt={"brokers": via_proxy, "failover_after": 1})
        bridge.start()
        observer.wait_for(lambda ms: _availability(ms) == [b"online"], 20, "online")
        proxy.cut()
        observer.wait_for(lambda ms: _availability(ms)[-1:] == [b"offline"], 10, "the will")
        # The outage. Rounds over the broker list (after 0.5 s of retries) are 0.5, 1, 2, 4
        # and then 8 s apart: the network comes back in the middle of an 8 s pause.
        time.sleep(10.0)
        backlog_end = bridge.health()["readings_total"]
        returning = time.monotonic()
        proxy.start()  # the network is back
        observer.wait_for(lambda ms: _availability(ms).count(b"online") == 2, 10, "online again")
        back_after = time.monotonic() - returning
        assert back_after < 2.0
        bridge.wait_health(
            lambda h: h["broker"]["connected"] and h["published_total"] >= backlog_end,
            5,
            "the backlog to drain",
        )
    finally:
        observer.close()
        proxy.close()


async def test_what_a_lost_broker_acknowledged_last_goes_to_the_next_one(
    tmp_path: Path, brokers: Callable[..., Mosquitto]
) -> None:
    """A broker killed right after its PUBACKs may not have passed the readings on (Mosquitto
    does lose some), so the last second's acknowledged readings are sent again; older ones
    are not."""
    primary = brokers("primary").start()
    secondary = brokers("secondary").start()
    topics = Topics("iot_monitor", BRIDGE, "homeassistant")
    config = MqttConfig(
        brokers=[BrokerConfig(host=b.host, port=b.port) for b in (primary, secondary)],
        failover_after=1,
        primary_probe_interval=60,
    )
    link = MqttLink(config, client_id="replay", availability_topic=topics.availability)
    spool = Spool(tmp_path / "spool.db", SpoolConfig())
    publisher = Publisher(
        link=link,
        spool=spool,
        info=BridgeInfo(BRIDGE, "Lab Pi", "1", topics),
        devices=[],
        outputs={},
        states_delay_s=60,  # the current states are not what this test looks at
    )
    on_secondary = Recorder(secondary.port, topics.stream)
    publisher.start()
    link.start()
    try:
        await link.wait_connected()

        async def send_and_wait_for_pubacks(values: range) -> None:
            for value in values:
                publisher.emit(Reading("boiler", "water_temp", value, now_ms()))
            assert await publisher.wait_idle(5)
            assert spool.depth == 0

        await send_and_wait_for_pubacks(range(5))
        await asyncio.sleep(REPLAY_S + 0.2)  # these five are now older than the replay window
        await send_and_wait_for_pubacks(range(5, 10))
        primary.kill()
        replayed = await asyncio.to_thread(
            on_secondary.wait_for_readings, lambda rs: len(rs) >= 5, 10, "the replayed readings"
        )
        assert [r.value for r in replayed] == [5, 6, 7, 8, 9]  # in seq order, in one batch
        assert len(on_secondary.on(topics.stream)) == 1
        assert publisher.published_total == 10  # copies are not counted twice
    finally:
        on_secondary.close()
        await link.close()
        await publisher.stop()
        spool.close()


# ----- security --------------------------------------------------------------------------------


def _secure_broker(
    brokers: Callable[..., Mosquitto], tmp_path: Path, pki_names: tuple[str, ...]
) -> tuple[Mosquitto, int, dict[str, Any]]:
    """A broker wanting a password, TLS and a client certificate; its observer port; the
    ``mqtt`` settings that satisfy it."""
    pki = make_pki(tmp_path / "pki", server_names=pki_names)
    passwords = password_file(tmp_path / "auth", {"bridge": PASSWORD})
    broker = brokers("secure")
    observer = free_port()
    broker.extra_config = secure_listener(
        broker.port, passwords=passwords, pki=pki, require_certificate=True
    ) + observer_listener(observer)
    broker.start()
    wait_for_port(observer)  # start() waited for the first listener only
    settings = {
        "username": "bridge",
        "password": PASSWORD,
        "tls": {
            "ca_certs": str(pki.ca_cert),
            "certfile": str(pki.client_cert),
            "keyfile": str(pki.client_key),
        },
    }
    return broker, observer, settings


def _online(recorder: Recorder) -> Callable[[Any], bool]:
    return lambda _: b"online" in [m.payload for m in recorder.on(AVAILABILITY)]


def test_password_tls_and_client_certificate(
    tmp_path: Path, brokers: Callable[..., Mosquitto], lab_pi: Callable[..., BridgeProcess]
) -> None:
    broker, observer, settings = _secure_broker(brokers, tmp_path, ("localhost", "127.0.0.1"))
    recorder = Recorder(observer, f"{ROOT}/#")
    try:
        bridge = lab_pi([broker], [FLEET], mqtt=settings).start()
        recorder.wait_for(_online(recorder), 15, "online over TLS")
        recorder.wait_for(
            lambda ms: any(r.device_id.startswith("fleet_") for r in stream_readings(ms)),
            15,
            "readings",
        )
        assert bridge.health()["broker"]["connected"] is True
    finally:
        recorder.close()
    bridge.stop()
    assert PASSWORD not in bridge.log


@pytest.mark.parametrize(
    ("change", "expected_in_log"),
    [
        ({"password": "wrong"}, "not authorized"),
        # TLS 1.3 asks for the client certificate after the handshake: the refusal shows
        # either as a failed connect or as a failed CONNACK, depending on timing.
        ({"tls": "without client certificate"}, "(connect|refused) 127.0.0.1"),
        ({"tls": "wrong host name"}, "IP address mismatch"),
    ],
    ids=["wrong password", "no client certificate", "wrong host name"],
)
def test_refused_credentials_keep_the_bridge_off_the_broker(
    tmp_path: Path,
    brokers: Callable[..., Mosquitto],
    lab_pi: Callable[..., BridgeProcess],
    change: dict[str, str],
    expected_in_log: str,
) -> None:
    wrong_name = change.get("tls") == "wrong host name"
    names = ("broker.invalid",) if wrong_name else ("127.0.0.1",)
    broker, observer, settings = _secure_broker(brokers, tmp_path, names)
    if change.get("tls") == "without client certificate":
        settings["tls"] = {"ca_certs": settings["tls"]["ca_certs"]}
    settings.update({key: value for key, value in change.items() if key != "tls"})
    recorder = Recorder(observer, AVAILABILITY)
    try:
        refused = lab_pi([broker], [FLEET], mqtt=settings).start()
        health = refused.wait_health(
            lambda h: sum(h["faults"].get("mqtt", {}).values()) >= 2, 20, "refused attempts"
        )
        assert health["broker"]["connected"] is False
        assert recorder.on(AVAILABILITY) == []
        refused.stop()
        assert re.search(expected_in_log, refused.log, re.IGNORECASE), refused.log
        assert PASSWORD not in refused.log
        if wrong_name:
            # The same certificate with host name checking off is accepted: it was the name.
            relaxed = {**settings, "tls": {**settings["tls"], "insecure": True}}
            lab_pi([broker], [FLEET], mqtt=relaxed).start()
            recorder.wait_for(_online(recorder), 15, "online without the host name check")
    finally:
        recorder.close()


# ----- hostile input -----------------------------------------------------------------------------


HOSTILE_COMMANDS: list[tuple[bytes, str]] = [
    (b"\x00" * (20 * 1024), "too_large"),
    (b"\xff\xfe\xfd", "bad_json"),
    (b'{"id": "a", "command": ', "bad_json"),
    (b"[" * 5000, "bad_json"),
    (b"[]", "invalid"),
    (b'{"id": 12, "command": "ping"}', "invalid"),
    (b'{"id": "b", "command": "reboot"}', "unknown_command"),
    (b'{"id": "c", "command": "set_output", "device": "boiler", "output": "door"}', "invalid"),
    (
        b'{"id": "d", "command": "set_output", "device": "boiler", "output": "pump", '
        b'"state": true}',
        "not_allowed",
    ),
    (b'{"id": "e", "command": "set_config", "settings": {"health": {"interval": -1}}}', "invalid"),
    (b'{"id": "f", "command": "set_config", "settings": {"mqtt": {"password": "x"}}}', "invalid"),
]


def test_hostile_payloads_on_command_topics_get_errors_and_the_bridge_runs_on(
    mosquitto: Mosquitto,
    consumer_on: Callable[..., SeqConsumer],
    lab_pi: Callable[..., BridgeProcess],
) -> None:
    consumer = consumer_on(mosquitto)
    boiler = {
        "id": "boiler",
        "sensors": [{"id": "door", "type": "gpio_input", "pin": 17}],
        "outputs": [{"id": "fan", "type": "gpio_output", "pin": 27}],
    }
    bridge = lab_pi([mosquitto], [FLEET, boiler], commands={"rate": 5, "burst": 15})
    bridge.env["GPIOZERO_PIN_FACTORY"] = "mock"
    bridge.start()
    consumer.wait_for(_count_at_least(RATE), 20, "readings")
    for payload, _ in HOSTILE_COMMANDS:
        consumer.publish(mosquitto, COMMAND, payload)
    for payload in (b"\x00" * 100, b"MAYBE", b"ON" * 1000):
        consumer.publish(mosquitto, f"{ROOT}/boiler/fan/set", payload)
    consumer.wait_for(
        lambda c: len(c.on(mosquitto.port, RESULT)) >= len(HOSTILE_COMMANDS), 10, "all results"
    )
    results = [json.loads(p) for p in consumer.on(mosquitto.port, RESULT)]
    assert [r["error"]["code"] for r in results] == [code for _, code in HOSTILE_COMMANDS]
    assert [r["id"] for r in results] == [None] * 6 + ["b", "c", "d", "e", "f"]

    # A burst beyond the limit: every command still gets exactly one answer.
    for n in range(20):
        consumer.publish(mosquitto, COMMAND, json.dumps({"id": f"p{n}", "command": "ping"}))
    consumer.wait_for(
        lambda c: all(c.results(mosquitto.port, f"p{n}") for n in range(20)), 10, "20 answers"
    )
    answers = [consumer.results(mosquitto.port, f"p{n}") for n in range(20)]
    assert all(len(answer) == 1 for answer in answers)
    codes = {"ok" if a[0]["ok"] else a[0]["error"]["code"] for a in answers}
    assert codes == {"ok", "rate_limited"}

    # Still running, still publishing, and the allowed output is driven.
    latest = max(consumer.seqs())
    consumer.wait_for(lambda c: max(c.seqs()) > latest + RATE, 10, "readings after the barrage")
    fan_on = {"id": "fan", "command": "set_output", "device": "boiler", "output": "fan"}
    for _ in range(50):  # each answer takes a round trip; the bucket refills at 5/s
        result = consumer.command(mosquitto, {**fan_on, "state": "ON"})
        if result["ok"]:
            break
        assert result["error"]["code"] == "rate_limited"
    assert result == {
        "id": "fan",
        "ok": True,
        "result": {"device": "boiler", "output": "fan", "state": True},
    }
    consumer.wait_for(
        lambda c: any(r.value is True for r in c.of("boiler", "fan")), 10, "the fan's state"
    )
    health = bridge.health()
    assert health["faults"]["publisher"]["bad_output_command"] == 3
    assert health["commands"]["error"] == len(HOSTILE_COMMANDS)
    assert health["commands"]["rate_limited"] >= 1
    bridge.stop()


# ----- recoverable faults are logged once per burst -----------------------------------------------


async def test_a_sensor_failing_for_ever_is_counted_each_time_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DS18B20 that has gone missing, read every 10 ms: 50 faults counted, one log line."""
    cfg = Ds18b20Config(id="water_temp", address="28-0316a2794bff", interval=0.01, w1_root=tmp_path)
    driver = Ds18b20Driver("boiler", cfg)
    faults = record_faults(driver)
    with caplog.at_level(logging.WARNING):
        async with running(driver) as readings:
            await faults.wait_for("missing_device", 50)
    assert readings.empty()
    assert [r.getMessage() for r in caplog.records if "missing_device" in r.getMessage()] == [
        f"test: missing_device: {tmp_path / cfg.address / 'w1_slave'} does not exist"
    ]
