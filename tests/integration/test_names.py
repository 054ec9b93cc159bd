"""Entity names in the user's language: statistic first, the sensor named by Home Assistant.

The bridge leaves out the name of a sensor that would only repeat its device class (the
fleet's temperature, humidity and battery), so Home Assistant's MQTT entity is named by the
translated device class; the statistics take the same translated name as their subject.
"""

from __future__ import annotations

import pytest
from homeassistant.const import ATTR_FRIENDLY_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_monitor.const import (
    STAT_COUNT,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    STAT_RATE,
    STAT_STDEV,
)
from custom_components.iot_monitor.contract.description import SensorDescription, SensorKind
from custom_components.iot_monitor.sensor import sensor_subject
from tests.integration.bridge_entry import (
    bridge_entity_id,
    raw_entity_id,
    statistic_entity_id,
)
from tests.support.bridge_fleet import FleetBridge

DEVICE = "fleet_1"

ENGLISH = {
    ("statistic", DEVICE, "temperature", STAT_MEAN): "Fleet 1 Mean temperature",
    ("statistic", DEVICE, "temperature", STAT_MIN): "Fleet 1 Min temperature",
    ("statistic", DEVICE, "temperature", STAT_MAX): "Fleet 1 Max temperature",
    ("statistic", DEVICE, "temperature", STAT_STDEV): "Fleet 1 Std dev of temperature",
    ("statistic", DEVICE, "humidity", STAT_COUNT): "Fleet 1 Count of humidity",
    ("statistic", DEVICE, "battery", STAT_RATE): "Fleet 1 Change rate of battery",
    # Named by the bridge: kept, an acronym keeps its capitals.
    ("statistic", "bridge", "cpu_usage", STAT_MEAN): "Lab Pi Mean CPU usage",
    ("statistic", "bridge", "uptime", STAT_MAX): "Lab Pi Max uptime",
    ("raw", DEVICE, "temperature", None): "Fleet 1 Temperature",
    ("raw", DEVICE, "humidity", None): "Fleet 1 Humidity",
    ("raw", DEVICE, "battery", None): "Fleet 1 Battery",
    ("raw", "bridge", "cpu_usage", None): "Lab Pi CPU usage",
    ("connectivity", "bridge", None, None): "Lab Pi Bridge connection",
}
INDONESIAN = {
    ("statistic", DEVICE, "temperature", STAT_MEAN): "Fleet 1 Rata-rata Suhu",
    ("statistic", DEVICE, "temperature", STAT_MIN): "Fleet 1 Minimum Suhu",
    ("statistic", DEVICE, "temperature", STAT_MAX): "Fleet 1 Maksimum Suhu",
    ("statistic", DEVICE, "temperature", STAT_STDEV): "Fleet 1 Simpangan baku Suhu",
    ("statistic", DEVICE, "humidity", STAT_COUNT): "Fleet 1 Jumlah pembacaan Kelembapan",
    ("statistic", DEVICE, "battery", STAT_RATE): "Fleet 1 Laju perubahan Baterai",
    # Named by the bridge (in English, as configured): kept as it is.
    ("statistic", "bridge", "cpu_usage", STAT_MEAN): "Lab Pi Rata-rata CPU usage",
    ("statistic", "bridge", "uptime", STAT_MAX): "Lab Pi Maksimum Uptime",
    ("raw", DEVICE, "temperature", None): "Fleet 1 Suhu",
    ("raw", DEVICE, "humidity", None): "Fleet 1 Kelembapan",
    ("raw", DEVICE, "battery", None): "Fleet 1 Baterai",
    ("raw", "bridge", "cpu_usage", None): "Lab Pi CPU usage",
    ("connectivity", "bridge", None, None): "Lab Pi Koneksi bridge",
}


@pytest.fixture
def language() -> str:
    """Home Assistant's language; parametrize a test with ``language`` to change it."""
    return "en"


@pytest.fixture(autouse=True)
def configured_language(hass: HomeAssistant, language: str) -> None:
    """Set before MQTT and the entry are set up: platforms load their translations then."""
    hass.config.language = language


def friendly_names(hass: HomeAssistant, bridge: FleetBridge, wanted: dict) -> dict:
    names = {}
    for key in wanted:
        kind, device, sensor, statistic = key
        if kind == "statistic":
            entity_id = statistic_entity_id(hass, bridge, device, sensor, statistic)
        elif kind == "raw":
            entity_id = raw_entity_id(hass, bridge, device, sensor)
        else:
            entity_id = bridge_entity_id(hass, bridge, "binary_sensor", "connectivity")
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        names[key] = state.attributes[ATTR_FRIENDLY_NAME]
    return names


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("language", "wanted"), [("en", ENGLISH), ("id", INDONESIAN)], ids=["en", "id"]
)
async def test_friendly_names_in_the_user_s_language(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, wanted: dict
) -> None:
    assert friendly_names(hass, bridge, wanted) == wanted


@pytest.mark.parametrize(
    ("language", "original_name"), [("en", "Mean temperature"), ("id", "Rata-rata Suhu")]
)
async def test_the_registry_keeps_the_translated_name(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, original_name: str
) -> None:
    """What the entity settings dialog shows as the name to override."""
    entity_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None
    assert (entity.has_entity_name, entity.original_name) == (True, original_name)


def test_the_bridge_leaves_out_names_that_only_repeat_the_device_class() -> None:
    """That is what lets Home Assistant translate them."""
    fleet_1 = next(device for device in FleetBridge(count=1).devices if device.id == DEVICE)
    discovery = FleetBridge(count=1).discovery_payloads()
    components = next(
        config for topic, config in discovery.items() if topic.endswith("lab-pi_fleet_1/config")
    )
    assert '"name": "Temperature"' not in components
    assert {sensor.id: sensor.name for sensor in fleet_1.sensors} == {
        "temperature": "Temperature",
        "humidity": "Humidity",
        "battery": "Battery",
        "status": "Status",
        "location": "Location",
    }


def sensor(name: str | None, device_class: str | None, sensor_id: str = "s1") -> SensorDescription:
    return SensorDescription(
        id=sensor_id, name=name, kind=SensorKind.NUMERIC, device_class=device_class
    )


TRANSLATED = {
    "component.sensor.entity_component.temperature.name": "Temperature",
    "component.sensor.entity_component.pm25.name": "PM2.5",
}


@pytest.mark.parametrize(
    ("described", "language", "subject"),
    [
        (sensor(None, "temperature"), "en", "temperature"),
        (sensor(None, "temperature"), "en-GB", "temperature"),
        (sensor(None, "pm25"), "en", "PM2.5"),  # an acronym keeps its capitals
        (sensor("CPU usage", None), "en", "CPU usage"),
        (sensor("Water temp", "temperature"), "en", "water temp"),
        (sensor("Water temp", "temperature"), "id", "Water temp"),
        (sensor(None, "temperature"), "id", "Temperature"),  # what the table says, as it is
        (sensor(None, "wind_speed"), "en", "wind speed"),  # no translation: the class
        (sensor(None, None, "flow_rate"), "en", "flow rate"),  # no class either: the id
    ],
)
def test_sensor_subject(described: SensorDescription, language: str, subject: str) -> None:
    assert sensor_subject(described, language, TRANSLATED) == subject
