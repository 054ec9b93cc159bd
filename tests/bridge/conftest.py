"""Fixtures shared by the bridge tests: real brokers and recording clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
