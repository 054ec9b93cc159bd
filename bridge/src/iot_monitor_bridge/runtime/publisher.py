"""From driver readings to MQTT: two views of one reading.

**The stream** carries every reading. Each is appended to the spool (which gives it its
``seq``) before anything else, then sent on the stream topic, in batches of up to
``STREAM_BATCH`` readings per message at QoS 1: readings accepted in the same turn of the
loop share a message. A PUBACK removes a whole batch from the spool. What could not be sent
at once (no broker, a full window, an older backlog) stays in the spool and is drained oldest
first through the same window, while new readings keep entering the spool behind it. So on
one connection the stream is in ``seq`` order; the only repeats are readings in flight when a
connection dropped and, after a broker was lost, what it acknowledged in its last second
(``REPLAY_S``): a broker that crashes right after a PUBACK may not have passed them on.

**The state topics** carry, per sensor, only the newest value, through the sensor's
``StateGate`` (throttle, delta, heartbeat; ``iot_monitor_bridge.states``). Only live readings
go there, never the spool's backlog, and every state publish sends the newest reading the
bridge has at that moment, so a state topic never goes back to an older value.

On every (re)connect, and when Home Assistant announces itself on ``homeassistant/status``,
the publisher (re)sends what Home Assistant needs to rebuild its view: the bridge
description, device discovery (and empty configs for devices that left the config), and
the newest reading of every sensor and output (states are not retained).

Everything here runs on the asyncio loop thread, the only thread that touches the spool;
``emit`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from iot_monitor_bridge.contract.description import SensorKind, encode_description
from iot_monitor_bridge.contract.faults import FaultLog
from iot_monitor_bridge.contract.ids import object_id
from iot_monitor_bridge.contract.readings import Reading, encode_state, encode_stream
from iot_monitor_bridge.drivers.base import OutputDriver, now_ms
from iot_monitor_bridge.model import DeviceSpec
from iot_monitor_bridge.protocol.discovery import BridgeInfo, description, device_discovery
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT, MqttLink, finished_within
from iot_monitor_bridge.runtime.spool import Spool
from iot_monitor_bridge.runtime.status import BrokerStatus
from iot_monitor_bridge.states import StateFilter, StateGate

_LOGGER = logging.getLogger(__name__)

DRAIN_BATCH: Final = 2000
"""Readings read from the spool per backlog query."""
STREAM_BATCH: Final = 200
"""Readings per stream message at most (about 10 KB of JSON)."""
STATES_DELAY_S: Final = 1.0
"""Pause between discovery and the current states: Home Assistant subscribes an entity's
state topic only once it has processed the discovery message, and states are not retained."""
COMMIT_CHECK_S: Final = 0.25
"""How often the commit policy is checked when nothing else happens."""
PUBLISHED_OBJECT_IDS_KEY: Final = "discovery.object_ids"
"""Spool meta: discovery object ids with a (non-empty) retained config on the brokers."""
MAX_OUTPUT_PAYLOAD: Final = 16
REPLAY_S: Final = 1.0
"""After a broker is lost (not left on purpose), the readings it acknowledged this long
before are sent again to the next broker, with their own ``seq``. Mosquitto killed in the
middle of a stream loses a few messages it has already acknowledged (docs/mqtt.md);
Home Assistant ignores the copies that did arrive."""
REPLAY_MAX: Final = MAX_INFLIGHT
"""At most this many readings are sent again: the newest acknowledged."""


class LoopHop:
    """Runs calls posted from other threads on an asyncio loop, in the order posted.

    Only the first call of a burst wakes the loop (``call_soon_threadsafe``); the rest
    join the pending batch. A call that raises is logged; the others still run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def post(self, func: Callable[..., None], *args: Any) -> None:
        """Run ``func(*args)`` on the loop, after the calls posted before it."""
        with self._lock:
            self._pending.append((func, args))
            if len(self._pending) > 1:
                return
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self._loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        for func, args in batch:
            try:
                func(*args)
            except Exception:
                _LOGGER.exception("Error in %s", getattr(func, "__qualname__", func))


def _finite(reading: Reading) -> bool:
    value = reading.value
    return not isinstance(value, float) or math.isfinite(value)


class Publisher:
    """The pipeline from readings to broker; listens to the link's connect/ack events."""

    def __init__(
        self,
        *,
        link: MqttLink,
        spool: Spool,
        info: BridgeInfo,
        devices: list[DeviceSpec],
        outputs: Mapping[tuple[str, str], OutputDriver],
        state_filters: Mapping[tuple[str, str], StateFilter] | None = None,
        states_delay_s: float = STATES_DELAY_S,
    ) -> None:
        """Wire into ``link``; ``state_filters`` are per sensor, the rest take the defaults."""
        self._link = link
        self._spool = spool
        self._info = info
        self._topics = info.topics
        self._stream_topic = info.topics.stream
        self._devices = devices
        self._outputs = dict(outputs)
        self._states_delay_s = states_delay_s
        self._loop = link.loop
        self._loop_thread: int | None = None
        self._hop = LoopHop(self._loop)
        self.faults = FaultLog(_LOGGER, "publisher")
        self.readings_total = 0
        self.published_total = 0
        self._gates = self._make_gates(state_filters or {})
        self._state_topics: dict[tuple[str, str], str] = {}
        self._state_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._state_inflight: set[int] = set()
        """Message ids of state publishes awaiting PUBACK: they take room in the window."""
        self._inflight: dict[int, list[Reading]] = {}
        """Message id -> stream batch sent on the current connection, awaiting PUBACK."""
        self._fresh: list[Reading] = []
        """New readings to send in the next stream message while caught up."""
        self._flush_scheduled = False
        self._acknowledged: deque[tuple[float, Reading]] = deque(maxlen=REPLAY_MAX)
        """(loop time, reading) of the newest PUBACKs on the current connection."""
        self._replay: dict[int, Reading] = {}
        """Seq -> reading a lost broker acknowledged last: sent again until acknowledged."""
        self._removals: dict[int, str] = {}
        """Message id -> object id of empty discovery configs awaiting PUBACK."""
        self._window = link.window
        self._connected = False
        self._cursor = -1
        """Every unacknowledged reading with seq <= cursor was sent on this connection."""
        self._caught_up = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._states_timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.listeners: list[Callable[[Reading], None]] = []
        """Called on the loop thread with every reading accepted (in the spool, with its seq)."""
        link.on_up.append(self._link_up)
        link.on_down.append(self._link_down)
        link.on_published = self._published
        link.subscribe(self._topics.ha_status, self._ha_status)
        link.subscribe(self._topics.output_set_wildcard, self._output_command)

    def _make_gates(
        self, filters: Mapping[tuple[str, str], StateFilter]
    ) -> dict[tuple[str, str], StateGate]:
        kinds: dict[tuple[str, str], SensorKind | None] = {}
        for device in self._devices:
            kinds.update(((device.id, s.id), s.kind) for s in device.sensors)
            kinds.update(((device.id, o.id), None) for o in device.outputs)
        return {
            key: StateGate(filters.get(key, StateFilter()).resolved(kind))
            for key, kind in kinds.items()
        }

    # ----- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start draining and committing on the loop (call from the loop thread)."""
        self._loop_thread = threading.get_ident()
        self._tasks = [
            self._loop.create_task(self._drain_forever(), name="publisher-drain"),
            self._loop.create_task(self._commit_forever(), name="publisher-commit"),
        ]

    async def wait_idle(self, wait_s: float) -> bool:
        """Wait until no reading awaits a PUBACK (before a clean disconnect)."""
        return await finished_within(self._idle.wait(), wait_s)

    async def stop(self) -> None:
        """Stop the background tasks; the spool is left to its owner to commit and close."""
        if self._states_timer is not None:
            self._states_timer.cancel()
        for timer in self._state_timers.values():
            timer.cancel()
        self._state_timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # ----- readings in --------------------------------------------------------------------

    def emit(self, reading: Reading) -> None:
        """Take a reading from any thread (drivers' ``Emit``)."""
        if threading.get_ident() == self._loop_thread:
            self._accept(reading)
        else:
            self._hop.post(self._accept, reading)

    def _accept(self, reading: Reading) -> None:
        try:
            stored = self._spool.append(reading)  # refuses what is not JSON, NaN included
        except ValueError as err:
            self.faults.fault("unencodable" if _finite(reading) else "non_finite", str(err))
            return
        self.readings_total += 1
        if self._caught_up:
            self._fresh.append(stored)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        self._offer_state(stored)
        self._commit_if_due()
        for listener in self.listeners:
            try:
                listener(stored)
            except Exception:
                _LOGGER.exception("Reading listener %r failed", listener)

    # ----- the stream -------------------------------------------------------------------

    def _room(self) -> int:
        return self._window - len(self._inflight) - len(self._state_inflight)

    def _flush(self) -> None:
        """Send the readings accepted in this turn of the loop, as few messages as fit."""
        self._flush_scheduled = False
        fresh, self._fresh = self._fresh, []
        if not self._caught_up:
            return  # the drain sends them from the spool, in turn
        for start in range(0, len(fresh), STREAM_BATCH):
            batch = fresh[start : start + STREAM_BATCH]
            if self._room() <= 0 or not self._send(batch):
                self._caught_up = False  # the rest waits in the spool; the drain sends it
                self._wake.set()
                return
            self._cursor = batch[-1].seq

    def _send(self, batch: list[Reading]) -> bool:
        mid = self._link.publish(self._stream_topic, encode_stream(batch), qos=1)
        if mid is None:
            return False
        self._inflight[mid] = batch
        self._idle.clear()
        return True

    def _published(self, mids: list[int]) -> None:
        seqs: list[int] = []
        now = self._loop.time()
        for mid in mids:
            batch = self._inflight.pop(mid, None)
            if batch is not None:
                for reading in batch:
                    self._acknowledged.append((now, reading))
                    if self._replay.pop(reading.seq, None) is None:  # a copy is not news
                        seqs.append(reading.seq)
            elif mid in self._removals:
                self._removal_acknowledged(self._removals.pop(mid))
            else:
                self._state_inflight.discard(mid)
        if seqs:
            self._spool.ack(seqs)
            self.published_total += len(seqs)
            self._commit_if_due()
        if not self._inflight:
            self._idle.set()
        if not self._caught_up:
            self._wake.set()

    async def _drain_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        """Send unsent spooled readings, oldest first, while the window has room.

        PUBACKs and new backlog wake it again.
        """
        while self._connected and not self._caught_up:
            room = self._room()
            if room <= 0:
                return
            wanted = min(room * STREAM_BATCH, DRAIN_BATCH)
            pending = self._spool.pending(wanted, after_seq=self._cursor)
            for start in range(0, len(pending), STREAM_BATCH):
                batch = pending[start : start + STREAM_BATCH]
                if not self._send(batch):
                    return  # the connection went away under us
                self._cursor = batch[-1].seq
            if len(pending) < wanted:
                self._caught_up = True

    async def _commit_forever(self) -> None:
        while True:
            await asyncio.sleep(COMMIT_CHECK_S)
            self._commit_if_due()

    def commit(self) -> None:
        """Make the readings accepted so far durable now, whatever the commit policy says.

        A machine's step is in its ledger at once; its readings must not wait for the
        spool's next commit, or a kill in between would leave a hole in the history.
        """
        self._spool.commit()

    def _commit_if_due(self) -> None:
        if self._spool.commit_due():
            self._spool.commit()

    # ----- the state topics -----------------------------------------------------------

    def _offer_state(self, reading: Reading) -> None:
        key = (reading.device_id, reading.sensor_id)
        gate = self._gates.get(key)
        if gate is None:  # a sensor no spec announced: publish it unfiltered
            gate = self._gates[key] = StateGate(StateFilter(throttle=0.0))
        if gate.offer(reading):
            self._state_due(key)

    def _state_due(self, key: tuple[str, str]) -> None:
        """Publish the newest reading of ``key`` if it is due, else time it for when it is."""
        gate = self._gates[key]
        due = gate.due()
        now = self._loop.time()
        if due is not None and due <= now:
            # Without a broker nothing is timed: the next connection sends the newest state.
            due = gate.due() if self._publish_state(key, gate, now) else None
        timer = self._state_timers.get(key)
        if timer is not None and timer.when() == due:
            return  # already timed (a throttled sensor's readings all wait for the same end)
        if timer is not None:
            self._state_timers.pop(key).cancel()
        if due is not None:
            self._state_timers[key] = self._loop.call_at(due, self._state_timer_fired, key)

    def _state_timer_fired(self, key: tuple[str, str]) -> None:
        del self._state_timers[key]
        self._state_due(key)

    def _publish_state(self, key: tuple[str, str], gate: StateGate, now: float) -> bool:
        reading = gate.latest
        if reading is None or not self._connected:
            return False
        topic = self._state_topics.get(key)
        if topic is None:
            topic = self._state_topics[key] = self._topics.state(*key)
        mid = self._link.publish(topic, encode_state(reading), qos=1)
        if mid is None:
            return False
        self._state_inflight.add(mid)
        gate.mark_published(now)
        return True

    def _publish_current_states(self) -> None:
        """The newest reading of every sensor and output again, whatever the filters say.

        Events excepted: they are published once, live (``states.py``).
        """
        self._states_timer = None
        now = self._loop.time()
        for key, gate in self._gates.items():
            if gate.latest is None or gate.once:
                continue
            if not self._publish_state(key, gate, now):
                return  # the connection went away: the next one publishes them again
            self._state_due(key)

    # ----- connection events -------------------------------------------------------------

    def _link_up(self, broker: BrokerStatus) -> None:
        _LOGGER.debug("Publishing to %s:%d", broker.host, broker.port)
        self._reset(connected=True)
        self._window = self._link.window
        self._publish_description()
        self._publish_discovery()
        self._remove_departed_devices()
        replay = sorted(self._replay.values(), key=lambda r: r.seq)
        for start in range(0, len(replay), STREAM_BATCH):
            if not self._send(replay[start : start + STREAM_BATCH]):
                break
        self._schedule_states(self._states_delay_s)
        self._wake.set()

    def _link_down(self) -> None:
        """The broker was lost: what it acknowledged last is sent again on the next one."""
        cutoff = self._loop.time() - REPLAY_S
        for acknowledged_at, reading in self._acknowledged:
            if acknowledged_at >= cutoff:
                self._replay[reading.seq] = reading
        self._reset(connected=False)

    def _reset(self, *, connected: bool) -> None:
        """Forget the previous connection: unacknowledged readings are re-sent from the spool."""
        self._connected = connected
        self._inflight.clear()
        self._state_inflight.clear()
        self._fresh.clear()
        self._acknowledged.clear()
        self._removals.clear()
        self._idle.set()
        self._cursor = -1
        self._caught_up = False

    def _retained(self, topic: str, payload: bytes | str) -> int | None:
        return self._link.publish(topic, payload, qos=1, retain=True)

    def _publish_description(self) -> None:
        payload = encode_description(description(self._info, self._devices))
        self._retained(self._topics.description, payload)

    def _publish_discovery(self) -> None:
        for device in self._devices:
            payload = device_discovery(self._info, device)
            topic = self._topics.discovery(object_id(self._info.id, device.id))
            self._retained(topic, json.dumps(payload, separators=(",", ":")))

    def _current_object_ids(self) -> set[str]:
        return {object_id(self._info.id, device.id) for device in self._devices}

    def _remembered_object_ids(self) -> set[str]:
        text = self._spool.get_meta(PUBLISHED_OBJECT_IDS_KEY)
        try:
            remembered = json.loads(text) if text else []
        except ValueError:
            remembered = []
        if not isinstance(remembered, list):
            return set()
        return {item for item in remembered if isinstance(item, str)}

    def _remember_object_ids(self, object_ids: set[str]) -> None:
        self._spool.set_meta(PUBLISHED_OBJECT_IDS_KEY, json.dumps(sorted(object_ids)))

    def _remove_departed_devices(self) -> None:
        """Empty retained configs for devices published before and no longer configured.

        An object id is forgotten once the broker acknowledged its removal, so a removal
        interrupted by a disconnect is repeated on the next connection.
        """
        current = self._current_object_ids()
        remembered = self._remembered_object_ids()
        for departed in sorted(remembered - current):
            mid = self._retained(self._topics.discovery(departed), "")
            if mid is not None:
                self._removals[mid] = departed
                _LOGGER.info("Removing device %s from Home Assistant", departed)
        if not current <= remembered:
            self._remember_object_ids(remembered | current)

    def _removal_acknowledged(self, departed: str) -> None:
        self._remember_object_ids(self._remembered_object_ids() - {departed})

    def _schedule_states(self, delay_s: float) -> None:
        if self._states_timer is not None:
            self._states_timer.cancel()
        self._states_timer = self._loop.call_later(delay_s, self._publish_current_states)

    # ----- messages in -------------------------------------------------------------------

    def _ha_status(self, _topic: str, payload: bytes) -> None:
        if payload.strip() != b"online":
            return
        _LOGGER.info("Home Assistant is online: republishing discovery and states")
        self._publish_discovery()
        self._schedule_states(self._states_delay_s)

    def _output_command(self, topic: str, payload: bytes) -> None:
        """``ON``/``OFF`` from a Home Assistant switch; only outputs in the config."""
        target = self._topics.parse_output_set(topic)
        driver = self._outputs.get(target) if target is not None else None
        if target is None or driver is None:
            self.faults.fault("unknown_output", f"ignored command on {topic}")
            return
        command = payload.strip().upper()
        if len(payload) > MAX_OUTPUT_PAYLOAD or command not in (b"ON", b"OFF"):
            self.faults.fault("bad_output_command", f"{topic}: {payload[:32]!r} ignored")
            return
        try:
            self.drive_output(target[0], target[1], on=command == b"ON")
        except OSError as err:
            self.faults.fault("output_failed", f"{target[0]}/{target[1]}: {err}")

    def drive_output(self, device_id: str, output_id: str, *, on: bool) -> None:
        """Drive a configured output and publish the state it reached.

        Raises ``KeyError`` for an output not in the config, ``OSError`` if the hardware
        refuses.
        """
        driver = self._outputs[(device_id, output_id)]
        driver.set(on)
        self.emit(Reading(device_id, output_id, driver.is_on, now_ms()))

    def output_states(self) -> None:
        """Read every output's state once (at start-up) so Home Assistant's switches follow."""
        for (device_id, output_id), driver in self._outputs.items():
            try:
                state = driver.is_on
            except OSError as err:
                self.faults.fault("output_failed", f"{device_id}/{output_id}: {err}")
                continue
            self.emit(Reading(device_id, output_id, state, now_ms()))
