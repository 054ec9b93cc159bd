"""The bridge's link to its MQTT brokers: paho-mqtt driven by the asyncio loop.

One ``MqttLink`` keeps exactly one connection to the best reachable broker of the
configured, ordered list. Each connection is a fresh paho client with a clean session:
the spool, not paho's in-memory queue, is the source of truth, so nothing is published
while disconnected and whatever was in flight when a connection dropped is simply sent
again from the spool on the next one.

Broker choice:

* start-up: the first broker of the list that accepts a connection;
* the connected broker is lost: it is retried for the first half of ``failover_after``
  (a broker restart or a network blip), then the next brokers are tried in list order,
  so the bridge is on another broker within ``failover_after`` when one is reachable;
* while not on the primary: every ``primary_probe_interval`` the brokers listed before
  the current one are tried; the first that accepts a connection takes over (fail-back).
  The old broker gets a retained ``offline`` first, so availability is right on both;
* no broker accepts: rounds over the whole list with a growing pause between them (0.5 s
  doubling up to ``BACKOFF_MAX_S``). During a pause, a broker where nothing accepted a TCP
  connection (refused, no route, name not resolved, time-out) is probed with a bare TCP
  connect every ``PROBE_INTERVAL_S``; when one accepts, the broker is tried at once, so the
  bridge is back within about ``PROBE_INTERVAL_S`` of a broker or the network returning,
  without a full MQTT connect (TLS handshake, authentication) more often than the pause
  allows. A broker that accepts TCP but refuses MQTT is not probed: it gets the rounds only.

paho's network I/O runs on the asyncio loop itself (paho's external-loop API), not on a
thread of its own: only the blocking connect runs in an executor thread. With one thread
there is no lock or GIL hand-off per message between publishing and PUBACK handling,
which on a small Pi is most of the cost of a QoS 1 message (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from iot_monitor_bridge.config import BrokerConfig, MqttConfig
from iot_monitor_bridge.drivers.base import FaultLog
from iot_monitor_bridge.runtime.status import BrokerStatus

_LOGGER = logging.getLogger(__name__)

MAX_INFLIGHT: Final = 1000
"""QoS 1 readings awaiting PUBACK per connection (paho's own default is 20).

Each QoS 1 message waits one round trip for its PUBACK. A small window caps the rate at
window / RTT and makes the loop wake up for every few PUBACKs; a large one lets one
wake-up handle hundreds, which is what keeps Python's per-message cost low (measured in
docs/performance.md). The price is bounded: about 150 kB of paho buffers, and after a
dropped connection at most this many readings sent twice (they carry the same ``seq``).
An MQTT 5 broker's Receive Maximum lowers it for that connection.
"""

MQTT5_DEFAULT_RECEIVE_MAXIMUM: Final = 65_535
"""What MQTT 5 says a CONNACK without Receive Maximum means."""
MQTT5_FIRST_INFLIGHT: Final = 20
"""MQTT 5, first connection to a broker: in flight until its Receive Maximum is known
(Mosquitto's default; paho's too)."""

RETRY_DELAY_S: Final = 0.5
"""Pause between attempts on the broker that was just lost; the first pause between rounds."""
BACKOFF_MAX_S: Final = 10.0
"""Longest pause between rounds over the whole broker list when none is reachable."""
PROBE_INTERVAL_S: Final = 0.5
"""How often, during a pause, a broker with nothing listening is probed (a TCP connect that
is closed at once: no MQTT, no TLS, nothing the broker has to authenticate or log in)."""
PROBE_TIMEOUT_S: Final = 1.0
"""How long a probe may take; the next one starts on time anyway (with a lost SYN, the
kernel would first resend it a second later)."""
MQTT_KEEPALIVE_MAX: Final = 65_535
"""MQTT's largest keepalive (a 16-bit field); a longer ``mqtt.keepalive`` is taken as this."""
_NO_ROUTE: Final = frozenset(
    {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
)
OFFLINE_ACK_TIMEOUT_S: Final = 3.0
"""How long a clean disconnect waits for the broker to acknowledge ``offline``."""

Handler = Callable[[str, bytes], None]
"""A subscription's message handler, called on the asyncio loop with (topic, payload)."""


async def finished_within(awaitable: Awaitable[Any], seconds: float) -> bool:
    """Whether ``awaitable`` finished within ``seconds`` (it is cancelled if not).

    Unlike ``asyncio.wait_for`` on Python 3.11, a cancellation of the caller that races
    with ``awaitable`` finishing is never swallowed, so ``MqttLink.close`` cannot hang.
    """
    future = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({future}, timeout=seconds)
    finally:
        future.cancel()  # nothing if it is done
    return bool(done)


class _Session:
    """One paho client, connected or connecting to one broker; never reconnects by itself.

    Its socket is served by the asyncio loop (paho's external-loop API): readable ->
    ``loop_read``, writable while paho has bytes queued -> ``loop_write``, once a second
    ``loop_misc`` for keepalive. paho's callbacks run inside those calls: connects,
    disconnects and messages are handed on with ``call_soon``, so listeners never run
    under paho's locks; PUBACKs are only recorded there and reported once per batch.
    """

    def __init__(self, link: MqttLink, index: int) -> None:
        self.index = index
        self.broker = link.brokers[index]
        self.window = MAX_INFLIGHT
        self.up = False
        self.connack: asyncio.Future[ReasonCode] = link.loop.create_future()
        self.closed = asyncio.Event()
        self._link = link
        self._loop = link.loop
        self._ack_waiters: dict[int, asyncio.Future[None]] = {}
        self._socket: Any = None
        self._misc: asyncio.TimerHandle | None = None
        self.client = link.new_client(index)
        later = self._later
        self.client.on_connect = lambda _c, _u, _f, rc, props: later(self._on_connect, rc, props)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: later(self._on_disconnect, rc)
        # PUBACKs, the bulk of the traffic, are handled at once: that only records them.
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self._on_publish(mid, rc)
        self.client.on_message = lambda _c, _u, msg: later(self._on_message, msg.topic, msg.payload)

    def _later(self, func: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon(func, *args)

    @property
    def label(self) -> str:
        return f"{self.broker.host}:{self.broker.port}"

    @property
    def status(self) -> BrokerStatus:
        return BrokerStatus(self.broker.host, self.broker.port, self.up, self.index)

    def open(self) -> None:
        """Blocking TCP (and TLS) connect and CONNECT; run in an executor thread.

        No socket callbacks are set yet, so paho writes CONNECT from this thread and
        calls nothing back; ``attach`` hands the socket to the loop afterwards.
        """
        if self._link.config.mqtt5:
            self.client.connect(
                self.broker.host, self.broker.port, self._link.keepalive, clean_start=True
            )
        else:
            self.client.connect(self.broker.host, self.broker.port, self._link.keepalive)

    def attach(self) -> None:
        """Serve the connected socket from the loop (on the loop thread, after ``open``)."""
        sock = self.client.socket()
        if sock is None:
            raise ConnectionError("connection closed while it was being opened")
        self._socket = sock
        client = self.client
        client.on_socket_register_write = lambda _c, _u, s: self._loop.add_writer(s, self._writable)
        client.on_socket_unregister_write = lambda _c, _u, s: self._stop_writing(s)
        client.on_socket_close = lambda _c, _u, s: self._detach(s)
        self._loop.add_reader(sock, self._readable)
        if client.want_write():
            self._loop.add_writer(sock, self._writable)
        self._misc = self._loop.call_later(1.0, self._housekeeping)

    def _readable(self) -> None:
        client = self.client
        rc = client.loop_read()
        sock = client.socket()
        # TLS may hold decrypted bytes the kernel no longer reports as readable.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, ssl.SSLSocket):
            if not sock.pending():
                break
            rc = client.loop_read()

    def _writable(self) -> None:
        self.client.loop_write()

    def _stop_writing(self, sock: Any) -> None:
        self._loop.remove_writer(sock)

    def _housekeeping(self) -> None:
        self._misc = None
        if self.client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._misc = self._loop.call_later(1.0, self._housekeeping)

    def _detach(self, sock: Any) -> None:
        """The socket is being closed: stop watching it first (its fd may be reused)."""
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        self._socket = None

    def _on_connect(self, reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            self._resolve(reason)
            return
        if self._link.config.mqtt5:
            receive_maximum = getattr(properties, "ReceiveMaximum", MQTT5_DEFAULT_RECEIVE_MAXIMUM)
            self._link.receive_maximum[self.index] = receive_maximum
            self.window = min(MAX_INFLIGHT, receive_maximum, self.client.max_inflight_messages)
        self.up = True
        self._resolve(reason)

    def _on_disconnect(self, reason: ReasonCode) -> None:
        was_up, self.up = self.up, False
        self._resolve(reason)
        for waiter in self._ack_waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("disconnected"))
        self._ack_waiters.clear()
        self.closed.set()
        if was_up:
            self._link.session_lost(self, reason)

    def _resolve(self, reason: ReasonCode) -> None:
        if not self.connack.done():
            self.connack.set_result(reason)

    def _on_publish(self, mid: int, reason: ReasonCode) -> None:
        waiter = self._ack_waiters.pop(mid, None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
            return
        self._link.acknowledged(self, mid, reason)

    def _on_message(self, topic: str, payload: bytes) -> None:
        self._link.message(self, topic, payload)

    def publish(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> int | None:
        if not self.up:
            return None
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return info.mid if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None

    async def publish_and_wait(self, topic: str, payload: str, wait_s: float) -> bool:
        """Publish retained at QoS 1 and wait for the PUBACK; ``False`` if it did not come."""
        mid = self.publish(topic, payload, qos=1, retain=True)
        if mid is None:
            return False
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._ack_waiters[mid] = waiter
        if not await finished_within(waiter, wait_s):
            return False
        return waiter.exception() is None  # ConnectionError: disconnected before the PUBACK

    def abandon(self) -> None:
        """Drop the connection without waiting (the broker publishes the will if it was up)."""
        self.up = False
        self.client.disconnect()
        if self._socket is None:  # not served by the loop: nothing else will close it
            self.client.loop_write()

    async def close(self) -> None:
        """Disconnect cleanly: DISCONNECT goes out and paho closes the socket."""
        self.up = False
        if self._socket is None:
            self.abandon()
            return
        self.client.disconnect()
        await finished_within(self.closed.wait(), OFFLINE_ACK_TIMEOUT_S)


class _Reach(enum.Enum):
    """What the last attempt or probe found at a broker's address."""

    DOWN = "nothing accepts TCP connections there"
    UNKNOWN = "no answer in time: nothing there, or a server that does not answer"
    LISTENING = "something accepts TCP connections (it may still refuse MQTT)"


def _reach_after(err: Exception) -> _Reach:
    """What a failed connect says about the broker's address."""
    if isinstance(err, ssl.SSLError):  # an OSError, but one from a server that answered
        return _Reach.LISTENING
    if isinstance(err, socket.gaierror):  # the name does not resolve (DNS down with the LAN)
        return _Reach.DOWN
    if isinstance(err, TimeoutError):  # the TCP connect, or a TLS handshake, timed out
        return _Reach.UNKNOWN
    if isinstance(err, OSError) and err.errno in _NO_ROUTE:
        return _Reach.DOWN
    return _Reach.LISTENING  # reset, closed during CONNECT, a bad host: not a probe's business


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Take a late future's exception, so that asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


def _abandon(session: _Session, opening: asyncio.Future[None]) -> None:
    if not opening.cancelled():
        opening.exception()  # retrieved: it was counted by the attempt, if it mattered
    session.abandon()


class MqttLink:
    """A connection to the best reachable broker, kept up until ``close``.

    Listeners: ``on_up`` (connected to a broker, also after a switch), ``on_down`` (lost it),
    ``on_published`` (PUBACKs of publishes made through ``publish``, as message ids).
    Everything is called on the asyncio loop; ``publish`` and ``subscribe`` must be too.
    """

    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str,
        availability_topic: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.brokers: Sequence[BrokerConfig] = config.brokers
        self.client_id = client_id
        self.availability_topic = availability_topic
        self.keepalive = max(1, min(MQTT_KEEPALIVE_MAX, round(config.keepalive)))
        self.loop = loop or asyncio.get_running_loop()
        self.on_up: list[Callable[[BrokerStatus], None]] = []
        self.on_down: list[Callable[[], None]] = []
        self.on_published: Callable[[list[int]], None] | None = None
        self.failovers = 0
        self.receive_maximum: dict[int, int] = {}
        """MQTT 5: each broker's Receive Maximum, by index, from its last CONNACK."""
        self.rejected = 0
        """PUBACKs with a failure reason (MQTT 5), e.g. not authorised: counted, not retried."""
        self.faults = FaultLog(_LOGGER, "mqtt")
        self._subscriptions: dict[str, Handler] = {}
        self._active: _Session | None = None
        self._trying: int | None = None
        self._last_index: int | None = None
        self._acks: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self._attempt_timeout = max(1.0, min(5.0, config.failover_after / 2))
        self._reach: dict[int, _Reach] = {}
        """By broker index, what its last attempt or probe found."""
        self._probes: dict[int, asyncio.Future[None]] = {}
        """Probes still running (a name lookup can hang): at most one per broker."""
        self.connected_event = asyncio.Event()

    # ----- public surface -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a broker connection is up now."""
        return self._active is not None and self._active.up

    @property
    def broker(self) -> BrokerStatus | None:
        """The broker in use, or the one being tried; ``None`` before the first attempt."""
        if self._active is not None:
            return self._active.status
        if self._trying is not None:
            broker = self.brokers[self._trying]
            return BrokerStatus(broker.host, broker.port, False, self._trying)
        return None

    @property
    def window(self) -> int:
        """How many QoS 1 publishes may await PUBACK on the current connection."""
        return self._active.window if self._active is not None else MAX_INFLIGHT

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Route messages matching ``topic_filter`` to ``handler``; restored on every connect."""
        self._subscriptions[topic_filter] = handler
        if self._active is not None and self._active.up:
            self._active.client.subscribe(topic_filter, qos=1)

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> int | None:
        """Send now; the message id to match with ``on_published``, ``None`` if not connected."""
        if self._active is None:
            return None
        return self._active.publish(topic, payload, qos, retain)

    async def wait_connected(self) -> None:
        """Return once a broker connection is up (at once if one is)."""
        await self.connected_event.wait()

    def start(self) -> None:
        """Connect, and keep a broker connection up (failover, fail-back) in a background task."""
        if self._task is None:
            self._task = self.loop.create_task(self._run(), name="mqtt-link")

    async def close(self) -> bool:
        """Publish ``offline`` (retained), wait for its PUBACK, disconnect.

        ``True`` when the broker acknowledged ``offline``; otherwise the broker's will
        (also ``offline``) takes over when it notices the connection is gone.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        session, self._active = self._active, None
        self.connected_event.clear()
        if session is None:
            return False
        acknowledged = await session.publish_and_wait(
            self.availability_topic, "offline", OFFLINE_ACK_TIMEOUT_S
        )
        await session.close()
        return acknowledged

    # ----- paho plumbing ---------------------------------------------------------------

    def new_client(self, index: int) -> mqtt.Client:
        """For a ``_Session``: a paho client for broker ``index``, with the will, login and TLS."""
        config = self.config
        protocol = mqtt.MQTTv5 if config.mqtt5 else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if protocol == mqtt.MQTTv5 else True,
            protocol=protocol,
            reconnect_on_failure=False,
        )
        client.connect_timeout = self._attempt_timeout
        if protocol == mqtt.MQTTv5:
            # The broker's Receive Maximum covers every publish, not only readings, so paho
            # enforces it. paho cannot change it once connected: the value learnt from the
            # broker's last CONNACK applies from the next connection on.
            client.max_inflight_messages_set(self.receive_maximum.get(index, MQTT5_FIRST_INFLIGHT))
        else:
            # The publisher keeps readings within ``window``; a paho limit on top would only
            # add a scan of every in-flight message to each PUBACK.
            client.max_inflight_messages_set(0)
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if config.tls is not None:
            tls = config.tls
            client.tls_set(
                ca_certs=str(tls.ca_certs) if tls.ca_certs else None,
                certfile=str(tls.certfile) if tls.certfile else None,
                keyfile=str(tls.keyfile) if tls.keyfile else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(tls.insecure)
        return client

    def session_lost(self, session: _Session, reason: ReasonCode) -> None:
        """From a ``_Session``: its connection dropped; ``on_down`` hears it if it was in use."""
        if session is not self._active:
            return
        _LOGGER.warning("Lost broker %s: %s", session.label, reason)
        self.connected_event.clear()
        for listener in self.on_down:
            listener()

    def acknowledged(self, session: _Session, mid: int, reason: ReasonCode) -> None:
        """From a ``_Session``: a PUBACK, passed to ``on_published`` in one batch per loop turn."""
        if session is not self._active:
            return  # a PUBACK from a broker we have left: the reading was re-sent
        if reason.is_failure:
            self.rejected += 1
            self.faults.fault("rejected", f"{session.label} refused a publish: {reason}")
        if not self._acks:
            self.loop.call_soon(self._flush_acks)
        self._acks.append(mid)

    def _flush_acks(self) -> None:
        mids, self._acks = self._acks, []
        if self.on_published is not None and mids:
            self.on_published(mids)

    def message(self, session: _Session, topic: str, payload: bytes) -> None:
        """From a ``_Session``: a message, handed to the handlers whose filter matches."""
        if session is not self._active:
            return
        for topic_filter, handler in list(self._subscriptions.items()):
            if mqtt.topic_matches_sub(topic_filter, topic):
                handler(topic, payload)

    # ----- broker selection ------------------------------------------------------------

    async def _run(self) -> None:
        count = len(self.brokers)
        order = list(range(count))
        backoff = RETRY_DELAY_S
        try:
            while True:
                session = await self._first_reachable(order)
                if session is None:
                    session, came_back = await self._pause(backoff)
                if session is None:
                    # A broker that came back but refused starts the backoff over.
                    backoff = RETRY_DELAY_S if came_back else min(backoff * 2, BACKOFF_MAX_S)
                    order = list(range(count))
                    continue
                backoff = RETRY_DELAY_S
                while session is not None:
                    self._activate(session)
                    lost = await self._hold()
                    session = await self._retry(lost, self.config.failover_after / 2)
                order = [(lost + step) % count for step in range(1, count + 1)]
        finally:
            self._trying = None

    async def _first_reachable(self, order: Sequence[int]) -> _Session | None:
        for index in order:
            session = await self._attempt(index)
            if session is not None:
                return session
        return None

    async def _retry(self, index: int, within: float) -> _Session | None:
        """Attempts on the broker just lost, for ``within`` seconds."""
        clock = self.loop.time
        deadline = clock() + within
        while clock() < deadline:
            session = await self._attempt(index)
            if session is not None:
                return session
            await asyncio.sleep(min(RETRY_DELAY_S, max(0.0, deadline - clock())))
        return None

    async def _pause(self, seconds: float) -> tuple[_Session | None, bool]:
        """The pause between two rounds, cut short when a broker is reachable again.

        The brokers where nothing listened are probed every ``PROBE_INTERVAL_S``; one that
        listens again is tried at once. Returns the session if that worked, and whether a
        broker came back (listening again) during the pause.
        """
        clock = self.loop.time
        deadline = clock() + seconds
        next_probe = clock() + PROBE_INTERVAL_S
        came_back = False
        while (now := clock()) < deadline:
            watched = [
                index
                for index in range(len(self.brokers))
                if self._reach.get(index) != _Reach.LISTENING
            ]
            if not watched:
                await asyncio.sleep(deadline - now)
                break
            if now < next_probe:
                await asyncio.sleep(min(next_probe, deadline) - now)
                continue
            next_probe = now + PROBE_INTERVAL_S
            answers = await asyncio.gather(*(self._probe(index) for index in watched))
            back = []
            for index, listening in zip(watched, answers, strict=True):
                if listening and self._reach.get(index) == _Reach.DOWN:
                    back.append(index)
                self._reach[index] = _Reach.LISTENING if listening else _Reach.DOWN
            for index in back:  # in list order: the primary first
                came_back = True
                session = await self._attempt(index)
                if session is not None:
                    return session, True
        return None, came_back

    async def _probe(self, index: int) -> bool:
        """Whether something at broker ``index``'s address accepts a TCP connection now."""
        running = self._probes.get(index)
        if running is not None and not running.done():
            return False  # the last one still hangs (a name lookup): nothing new to learn
        broker = self.brokers[index]

        def connect() -> None:
            with socket.create_connection((broker.host, broker.port), timeout=PROBE_TIMEOUT_S):
                pass  # connected: closed at once

        probe = self.loop.run_in_executor(None, connect)
        probe.add_done_callback(_retrieved)  # also when this task is cancelled meanwhile
        self._probes[index] = probe
        if not await finished_within(asyncio.shield(probe), PROBE_TIMEOUT_S):
            return False
        return probe.exception() is None

    async def _attempt(self, index: int) -> _Session | None:
        """One connection attempt, up to CONNACK; the session if the broker accepted it."""
        if self._active is None:
            self._trying = index
        session = _Session(self, index)
        label = session.label
        opening = self.loop.run_in_executor(None, session.open)
        connected = False
        try:
            # The blocking connect cannot be interrupted: if this task is cancelled, the
            # session is abandoned when the connect returns (see ``finally``).
            await asyncio.shield(opening)
            self._reach[index] = _Reach.LISTENING  # TCP (and TLS) connected, CONNECT sent
            session.attach()
            if not await finished_within(session.connack, self._attempt_timeout):
                self.faults.fault(f"connect {label}", "no CONNACK in time")
                return None
            reason = session.connack.result()
            if reason.is_failure:
                self.faults.fault(f"refused {label}", str(reason))
                return None
            connected = True
            return session
        except (OSError, ValueError) as err:  # refused, unreachable, TLS failure, bad host
            # (ConnectionError, an OSError, also when the socket closed before ``attach``)
            self.faults.fault(f"connect {label}", str(err) or type(err).__name__)
            self._reach[index] = _reach_after(err)
            return None
        finally:
            if not connected:
                opening.add_done_callback(lambda _: _abandon(session, opening))

    def _activate(self, session: _Session) -> None:
        previous, self._active = self._active, session
        if previous is not None and previous is not session and previous.up:
            self.loop.create_task(self._retire(previous), name="mqtt-retire")
        if not session.up:  # lost between CONNACK and now: ``_hold`` returns at once
            return
        if self._last_index is not None and session.index != self._last_index:
            self.failovers += 1
        self._last_index = session.index
        self._trying = None
        role = "primary" if session.index == 0 else f"broker #{session.index + 1}"
        _LOGGER.info("Connected to %s (%s)", session.label, role)
        if self._subscriptions:
            session.client.subscribe([(topic, 1) for topic in self._subscriptions])
        session.publish(self.availability_topic, "online", qos=1, retain=True)
        self.connected_event.set()
        status = session.status
        for listener in self.on_up:
            listener(status)

    async def _retire(self, session: _Session) -> None:
        """Leave a broker we switched away from: ``offline`` there first, then disconnect."""
        await session.publish_and_wait(self.availability_topic, "offline", OFFLINE_ACK_TIMEOUT_S)
        await session.close()
        _LOGGER.info("Left %s", session.label)

    async def _hold(self) -> int:
        """Keep the active connection, failing back when a better broker answers.

        Returns the index of the broker whose connection was lost.
        """
        while True:
            session = self._active
            assert session is not None
            if session.index == 0:
                await session.closed.wait()
                return session.index
            if await finished_within(session.closed.wait(), self.config.primary_probe_interval):
                return session.index
            better = await self._first_reachable(range(session.index))
            if better is not None and better.up:
                _LOGGER.info("Broker %s is back; failing back", better.label)
                self._activate(better)
