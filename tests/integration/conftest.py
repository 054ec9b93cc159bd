"""Fixtures shared by the Home Assistant tests: custom integrations on, a broker with memory."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest.mock import MagicMock, Mock, patch

import pytest
from homeassistant.core import HomeAssistant
from paho.mqtt.client import topic_matches_sub
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

# Home Assistant's loader finds custom integrations only among packages already imported.
from custom_components.iot_monitor.const import DOMAIN  # noqa: F401
from tests.support.bridge_fleet import FleetBridge


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/iot_monitor."""


@pytest.fixture(autouse=True)
def immediate_mqtt_subscriptions() -> Iterator[None]:
    """(Un)subscribe without the MQTT client's batching delays (up to 0.5 s each).

    An unsubscribe that is still cooling down when a test ends would otherwise leave a timer
    behind, which the harness reports as lingering.
    """
    with (
        patch("homeassistant.components.mqtt.client.INITIAL_SUBSCRIBE_COOLDOWN", 0.0),
        patch("homeassistant.components.mqtt.client.SUBSCRIBE_COOLDOWN", 0.0),
        patch("homeassistant.components.mqtt.client.UNSUBSCRIBE_COOLDOWN", 0.0),
    ):
        yield


@pytest.fixture
def mqtt_client_mock(mqtt_client_mock: MagicMock) -> MagicMock:
    """The harness's mocked paho client, closing its socket on disconnect as paho does.

    Without this, unloading MQTT at teardown leaves the client's periodic timer behind and
    every test that sets up MQTT fails the harness's lingering-timer check.
    """

    def disconnect(*_args: Any, **_kwargs: Any) -> int:
        mqtt_client_mock.on_socket_close(mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1)))
        return 0

    mqtt_client_mock.disconnect.side_effect = disconnect
    return mqtt_client_mock


class RetainedBroker:
    """The part of a broker the mocked MQTT client leaves out: retained messages.

    A broker replays the retained messages matching a new subscription right after
    acknowledging it, and Home Assistant resubscribes whenever something subscribes, so
    flows and the runtime read retained descriptions here as they would from Mosquitto.
    """

    def __init__(self, hass: HomeAssistant, client: MagicMock) -> None:
        self.hass = hass
        self.retained: dict[str, str] = {}
        self.subscriptions: Counter[str] = Counter()
        """How often Home Assistant subscribed to each topic filter at the broker."""
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        acknowledge = client.subscribe.side_effect

        def subscribe(topics: str | list[tuple[str, Any]], qos: int = 0, **kwargs: Any) -> Any:
            result = acknowledge(topics, qos, **kwargs)
            filters = [topics] if isinstance(topics, str) else [topic for topic, _ in topics]
            for topic, payload in self.retained.items():
                if any(topic_matches_sub(topic_filter, topic) for topic_filter in filters):
                    hass.loop.call_soon(async_fire_mqtt_message, hass, topic, payload, 1, True)
            self.subscriptions.update(filters)
            for topic_filter, times, waiter in self._waiters:
                if self.subscriptions[topic_filter] >= times and not waiter.done():
                    hass.loop.call_soon(waiter.set_result, None)
            return result

        client.subscribe.side_effect = subscribe

    def publish(self, topic: str, payload: str, *, retain: bool = True) -> None:
        """Publish as a client would: an empty retained payload clears the retained one."""
        if retain and payload:
            self.retained[topic] = payload
        elif retain:
            self.retained.pop(topic, None)
        if "mqtt" in self.hass.data:  # current subscribers get it live, without the retain flag
            async_fire_mqtt_message(self.hass, topic, payload, 1, False)

    def publish_bridge(self, bridge: FleetBridge) -> None:
        """What a running bridge keeps retained: its description and its discovery configs."""
        self.publish(bridge.description_topic, bridge.description_payload())
        for topic, payload in bridge.discovery_payloads().items():
            self.publish(topic, payload)

    async def wait_for_subscription(self, topic_filter: str, times: int = 1) -> None:
        """Until Home Assistant has subscribed to ``topic_filter`` ``times`` times in all.

        Counting, rather than waiting for the next subscription, leaves no race with
        subscriptions made before the call (a reload subscribes again: ``times=2``).
        """
        if self.subscriptions[topic_filter] >= times:
            return
        waiter = self.hass.loop.create_future()
        entry = (topic_filter, times, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        finally:
            self._waiters.remove(entry)


@pytest.fixture
def broker(hass: HomeAssistant, mqtt_client_mock: MagicMock) -> RetainedBroker:
    """A broker with retained messages behind the mocked MQTT client.

    It does not start MQTT: request ``mqtt_mock`` after it (or call ``mqtt_mock_entry``)
    so that retained messages published first are replayed to MQTT discovery.
    """
    return RetainedBroker(hass, mqtt_client_mock)


@pytest.fixture
def bridge() -> FleetBridge:
    """The default bridge: its own device plus the 8 simulated devices of the brief."""
    return FleetBridge()
