"""A broker with memory behind Home Assistant's mocked MQTT client."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from unittest.mock import MagicMock

from homeassistant.core import HomeAssistant
from paho.mqtt.client import topic_matches_sub
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from tests.support.bridge_fleet import FleetBridge


class RetainedBroker:
    """The part of a broker the mocked MQTT client leaves out: retained messages.

    A broker replays the retained messages matching a new subscription right after
    acknowledging it, and Home Assistant resubscribes whenever something subscribes, so
    flows and the coordinator read retained descriptions here as they would from Mosquitto.
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

    def publish_description(self, bridge: FleetBridge) -> None:
        """The description a running bridge keeps retained, which the config flow reads."""
        self.publish(bridge.description_topic, bridge.description_payload())

    def publish_bridge(self, bridge: FleetBridge) -> None:
        """What a running bridge keeps retained: its description and its discovery configs."""
        self.publish_description(bridge)
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
