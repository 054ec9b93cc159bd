"""The publisher's surroundings in memory: a fake MQTT link and an event loop whose clock the
test moves.

``FakeLink`` has what ``Publisher`` uses of ``MqttLink`` (``loop``, ``window``, the
``on_up``/``on_down``/``on_published`` listeners, ``subscribe`` and ``publish``); the test says
when the connection comes and goes, when PUBACKs arrive and what Home Assistant sends.
``ManualClockLoop`` is an asyncio loop whose ``time()`` only moves when the test says so,
so timers (the state throttle, the delay before states are re-sent) fire exactly at their
time, without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import paho.mqtt.client as mqtt

from iot_monitor_bridge.contract.readings import Reading, decode_stream
from iot_monitor_bridge.runtime.mqtt import MAX_INFLIGHT
from iot_monitor_bridge.runtime.status import BrokerStatus

_T = TypeVar("_T")

BROKER = BrokerStatus("broker.invalid", 1883, True, 0)


class ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still until ``advance``.

    Only for code that waits on timers and on callbacks: with nothing ready, the loop would
    block in ``select`` for as long as the next timer is away in the real world.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0

    def time(self) -> float:
        return self.now


def run(scenario: Callable[[ManualClockLoop], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``scenario(loop)`` on a new ``ManualClockLoop`` and close the loop."""
    loop = ManualClockLoop()
    try:
        return loop.run_until_complete(scenario(loop))
    finally:
        loop.close()


async def settle(turns: int = 5) -> None:
    """Let the loop run what is ready now (callbacks, woken tasks) a few turns over."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def advance(loop: ManualClockLoop, seconds: float) -> None:
    """Move the clock ``seconds`` on and run every timer that is due by then, in order."""
    target = loop.now + seconds
    while True:
        await settle()
        due = [handle.when() for handle in _timers(loop) if handle.when() <= target]
        if not due:
            break
        loop.now = max(loop.now, min(due))
    loop.now = target
    await settle()


def _timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    """The loop's pending timers (asyncio keeps them in ``_scheduled``)."""
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled")  # noqa: B009
    return [handle for handle in scheduled if not handle.cancelled()]


@dataclass(frozen=True)
class Sent:
    """One publish through the fake link."""

    mid: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    at: float
    """The loop's time when it was published."""


class FakeLink:
    """What the publisher sees of a link; the test plays the broker."""

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int = MAX_INFLIGHT) -> None:
        self.loop = loop
        self.window = window
        self.on_up: list[Callable[[BrokerStatus], None]] = []
        self.on_down: list[Callable[[], None]] = []
        self.on_published: Callable[[list[int]], None] | None = None
        self.connected = False
        self.sent: list[Sent] = []
        """Every publish, in order, over every connection."""
        self.unacknowledged: list[int] = []
        """Message ids of QoS 1 publishes on this connection without a PUBACK yet."""
        self._handlers: dict[str, Callable[[str, bytes], None]] = {}
        self._mid = 0

    # ----- MqttLink's surface -----------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None:
        self._handlers[topic_filter] = handler

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> int | None:
        if not self.connected:
            return None
        self._mid = self._mid % 65_535 + 1
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        self.sent.append(Sent(self._mid, topic, data, qos, retain, self.loop.time()))
        if qos:
            self.unacknowledged.append(self._mid)
        return self._mid

    # ----- the test's side --------------------------------------------------------------

    def up(self) -> None:
        """The connection comes up (the listeners run at once, as ``MqttLink`` calls them)."""
        self.connected = True
        self.unacknowledged = []
        for listener in self.on_up:
            listener(BROKER)

    def down(self) -> None:
        """The connection is lost: PUBACKs not received by now never come."""
        self.connected = False
        self.unacknowledged = []
        for listener in self.on_down:
            listener()

    def ack(self, mids: list[int] | None = None) -> None:
        """PUBACKs for ``mids`` (default: everything unacknowledged), reported in one batch."""
        mids = list(self.unacknowledged) if mids is None else mids
        self.unacknowledged = [mid for mid in self.unacknowledged if mid not in mids]
        assert self.on_published is not None
        self.on_published(mids)

    def deliver(self, topic: str, payload: bytes) -> None:
        """A message from the broker (e.g. Home Assistant's birth on ``homeassistant/status``)."""
        for topic_filter, handler in list(self._handlers.items()):
            if mqtt.topic_matches_sub(topic_filter, topic):
                handler(topic, payload)

    # ----- what was sent ----------------------------------------------------------------

    def on(self, topic: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.topic == topic]

    def stream(self, topic: str) -> list[list[Reading]]:
        """The batches sent on the stream ``topic``, in order."""
        return [decode_stream(sent.payload) for sent in self.on(topic)]

    def mid_of(self, topic: str, index: int = -1) -> int:
        """The message id of the ``index``-th publish on ``topic``."""
        return self.on(topic)[index].mid
