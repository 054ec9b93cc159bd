"""Fixtures shared by the bridge tests: real brokers, recording clients and mock GPIO pins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Recorder


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.kill()


@pytest.fixture
def recorder(mosquitto: Mosquitto) -> Iterator[Recorder]:
    client = Recorder(mosquitto.port)
    yield client
    client.close()


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    """gpiozero's mock pins for every device made in the test; reset afterwards."""
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = None
