"""Fixtures shared by the Home Assistant tests: custom integrations on, a broker with memory,
a bridge whose retained topics are on it, and that bridge's entry set up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock, Mock, PropertyMock, patch

import pytest
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion

# Home Assistant's loader finds custom integrations only among packages already imported.
from custom_components.iot_monitor.const import DOMAIN  # noqa: F401
from tests.integration.bridge_entry import async_setup_bridge
from tests.integration.command_bridge import CommandBridge
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge
from tests.support.mosquitto import Mosquitto

# The harness logs every SQL statement of the recorder; from its thread that reaches the
# terminal, and says nothing about this integration.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/iot_monitor.

    That needs ``hass``; a test with ``recorder_mock`` gets its recorder first, since the
    recorder's database must be prepared before ``hass`` starts.
    """
    if "recorder_mock" in request.fixturenames:
        request.getfixturevalue("recorder_mock")
    request.getfixturevalue("enable_custom_integrations")


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


@pytest.fixture
def broker(hass: HomeAssistant, mqtt_client_mock: MagicMock) -> RetainedBroker:
    """A broker with retained messages behind the mocked MQTT client.

    It does not start MQTT: request ``mqtt_mock`` after it (or call ``mqtt_mock_entry``)
    so that retained messages published first are replayed to MQTT discovery.
    """
    return RetainedBroker(hass, mqtt_client_mock)


@pytest.fixture
def bridge() -> FleetBridge:
    """The bridge under test: its own device plus one simulated device, which keeps entity
    counts and snapshots small (``FleetBridge()`` has the brief's 8)."""
    return FleetBridge(count=1)


@pytest.fixture
def described(
    broker: RetainedBroker, bridge: FleetBridge, mqtt_mock: MqttMockHAClient
) -> RetainedBroker:
    """MQTT is set up and the broker retains the bridge's description, not its discovery
    configs: what the config flow reads, but no MQTT devices yet."""
    broker.publish_description(bridge)
    return broker


@pytest.fixture
def availability() -> str | None:
    """The availability the bridge keeps retained in ``published``; ``None``: it has said
    nothing yet. Parametrize a test with ``availability`` to change it."""
    return None


@pytest.fixture
async def published(
    hass: HomeAssistant,
    broker: RetainedBroker,
    bridge: FleetBridge,
    availability: str | None,
    mqtt_mock: MqttMockHAClient,
) -> RetainedBroker:
    """The bridge's retained description, discovery and ``availability`` are on the broker;
    MQTT has read them."""
    broker.publish_bridge(bridge)
    if availability is not None:
        broker.publish(bridge.topics.availability, availability)
    await hass.async_block_till_done()
    return broker


@pytest.fixture
def options() -> dict[str, Any]:
    """The options of ``entry``; parametrize a test with ``options`` to change them."""
    return {}


@pytest.fixture
async def entry(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge, options: dict[str, Any]
) -> MockConfigEntry:
    """The bridge's entry, set up. Tests take ``freezer`` after it: MQTT subscribes in real time."""
    return await async_setup_bridge(hass, published, bridge, options)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's serializer (registry ids and timestamps left out), in ``snapshots/``."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def mosquitto(socket_enabled: None, tmp_path: Path) -> Iterator[Mosquitto]:
    """A real private broker; sockets are allowed to 127.0.0.1 only, which is where it listens."""
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.kill()


@pytest.fixture
async def command_bridge(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> AsyncIterator[CommandBridge]:
    """The bridge's command handler, subscribed to the command topic once the entry is set up."""
    command_bridge = CommandBridge(hass, bridge)
    unsubscribe = await mqtt.async_subscribe(
        hass, bridge.topics.command, command_bridge._command, 1
    )
    await hass.async_block_till_done()
    yield command_bridge
    unsubscribe()
