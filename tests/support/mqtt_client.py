"""A plain MQTT client that records what it receives, for asserting on what crossed the wire."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iot_monitor_bridge.contract.readings import Reading, decode_stream


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


def is_stream(topic: str) -> bool:
    """Whether ``topic`` is a bridge's stream topic (``<root>/<bridge>/stream``)."""
    return topic.endswith("/stream")


def stream_readings(messages: Iterable[Message]) -> list[Reading]:
    """Every reading of the stream messages among ``messages``, in arrival order, repeats
    included. A stream payload that is not what the contract says fails the test."""
    return [
        reading
        for message in messages
        if is_stream(message.topic)
        for reading in decode_stream(message.payload)
    ]


def first_copies(readings: Iterable[Reading]) -> list[Reading]:
    """Each reading at its first arrival, in arrival order. A repeat (a reading sent again)
    must be the same reading: same device, sensor, value, ``ts`` and ``seq``."""
    first: dict[int, Reading] = {}
    for reading in readings:
        known = first.setdefault(reading.seq, reading)
        assert known == reading, f"seq {reading.seq} came as {known} and as {reading}"
    return list(first.values())


class Recorder:
    """Subscribes to topics and lets a test wait for a condition on the messages received.

    It reconnects (and subscribes again) by itself when the broker comes back, after
    ``reconnect_delay`` seconds at first, doubling up to ``max_reconnect_delay``. A fixed
    ``client_id`` with ``clean_session=False`` keeps its session on the broker, so what is
    published while it is away is queued for it (with a broker that keeps sessions, also
    across a broker restart); redelivered messages then come again.
    """

    def __init__(
        self,
        port: int,
        *topics: str,
        host: str = "127.0.0.1",
        client_id: str = "",
        clean_session: bool = True,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 120.0,
    ) -> None:
        self.messages: list[Message] = []
        self.connects: list[int] = []
        """``len(messages)`` at each (re)connect: what came before and after it."""
        self._cond = threading.Condition()
        self._decoded = 0
        self._readings: list[Reading] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # paho takes fractions of a second as well.
        self._client.reconnect_delay_set(reconnect_delay, max_reconnect_delay)  # type: ignore[arg-type]
        self._subscribed = threading.Event()
        self._topics = topics or ("#",)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("recorder did not subscribe")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        with self._cond:
            self.connects.append(len(self.messages))
            self._cond.notify_all()
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[Message]], bool], timeout: float = 15.0, what: str = ""
    ) -> list[Message]:
        """Wait until ``predicate(messages)`` holds; fail with ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = sorted({m.topic for m in self.messages})[:20]
                    raise AssertionError(
                        f"timed out waiting for {what or predicate}; topics seen: {topics}"
                    )
                self._cond.wait(remaining)
            return list(self.messages)

    def _stream_so_far(self) -> list[Reading]:
        """Decode the stream messages that came since the last call (with ``_cond`` held)."""
        self._readings += stream_readings(self.messages[self._decoded :])
        self._decoded = len(self.messages)
        return self._readings

    def stream_readings(self) -> list[Reading]:
        """Every reading received on stream topics so far, in arrival order, repeats included."""
        with self._cond:
            return list(self._stream_so_far())

    def wait_for_readings(
        self, predicate: Callable[[list[Reading]], bool], timeout: float = 15.0, what: str = ""
    ) -> list[Reading]:
        """Wait until ``predicate`` holds for the stream's readings so far (``stream_readings``);
        each stream message is decoded once, however often the predicate is asked."""
        matched: list[list[Reading]] = []

        def on_readings(_messages: list[Message]) -> bool:
            readings = self._stream_so_far()
            if predicate(readings):
                matched.append(list(readings))
                return True
            return False

        self.wait_for(on_readings, timeout, what)
        return matched[0]

    def on(self, topic: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
            self._decoded = 0
            self._readings = []

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
