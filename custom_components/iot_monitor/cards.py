"""The fleet and vending cards: their bundle, loaded by every dashboard, and their layout.

The bundle (``frontend/iot-monitor-cards.js``, built from ``frontend/`` at the top of the
repository by ``scripts/build-cards``) ships inside the integration, so whoever installs the
integration has the cards. Its URL carries a hash of its content: a browser never runs an
old bundle after an update, yet caches it as long as it likes.

The cards learn which entities to show from the ``iot_monitor/cards/layout`` websocket command:
the integration knows each bridge's devices, sensors and thresholds and finds their entities by
unique id, which the frontend's entity list does not carry. The states themselves come from the
frontend's ``hass.states``, so the cards follow them live at no extra cost.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Final

import probatio
from homeassistant.components import frontend, websocket_api
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .binary_sensor import threshold_unique_id
from .const import CONF_SENSOR, DOMAIN, STAT_MAX, STAT_MEAN, STAT_MIN, SUBENTRY_THRESHOLD
from .contract.description import DeviceDescription, SensorKind
from .contract.ids import BRIDGE_DEVICE_ID, unique_id
from .coordinator import (
    CONNECTIVITY_KEY,
    MQTT_DOMAIN,
    IotMonitorConfigEntry,
    bridge_unique_id,
    statistic_unique_id,
)

BUNDLE: Final = Path(__file__).parent / "frontend" / "iot-monitor-cards.js"
URL: Final = f"/{DOMAIN}/iot-monitor-cards.js"
CARD_STATISTICS: Final = (STAT_MEAN, STAT_MIN, STAT_MAX)
"""What a fleet row draws: the window's range and its mean."""
MACHINE_SUFFIX: Final = "_machine"
"""A machine ``vending`` is the bridge's device ``vending_machine`` (docs/mqtt.md)."""
_PRODUCT_NAME: Final = re.compile(r"\((?P<name>.+)\)$")
"""``Stock a (Teh botol)``: the bridge names a slot's sensors after its product."""


async def async_register_cards(hass: HomeAssistant) -> None:
    """Serve the bundle, load it on every page, and answer the cards' layout command.

    Only where the frontend runs (not in a Home Assistant without one, nor in most tests).
    """
    if hass.http is None or "frontend" not in hass.config.components:
        return
    digest = await hass.async_add_executor_job(_digest, BUNDLE)
    await hass.http.async_register_static_paths([StaticPathConfig(URL, str(BUNDLE), True)])
    frontend.add_extra_js_url(hass, f"{URL}?v={digest}")
    websocket_api.async_register_command(hass, websocket_layout)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@websocket_command({probatio.Required("type"): f"{DOMAIN}/cards/layout"})
@callback
def websocket_layout(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Send the bridges with their devices, machines and entity ids."""
    entries: list[IotMonitorConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    registry = er.async_get(hass)
    connection.send_result(msg["id"], {"bridges": [_bridge(registry, e) for e in entries]})


def _bridge(registry: er.EntityRegistry, entry: IotMonitorConfigEntry) -> dict[str, Any]:
    coordinator = entry.runtime_data
    bridge = coordinator.bridge_id
    described = coordinator.description.devices if coordinator.description else ()
    return {
        "id": bridge,
        "name": entry.title,
        "entry_id": entry.entry_id,
        "connectivity": registry.async_get_entity_id(
            "binary_sensor", DOMAIN, bridge_unique_id(bridge, CONNECTIVITY_KEY)
        ),
        "broker": registry.async_get_entity_id(
            "sensor", MQTT_DOMAIN, unique_id(bridge, BRIDGE_DEVICE_ID, "broker")
        ),
        "devices": [
            row
            for device in described
            if not device.is_bridge and (row := _device(registry, bridge, device))["sensors"]
        ],
        "machines": [
            machine
            for device in described
            if (machine := _machine(registry, bridge, device)) is not None
        ],
        "thresholds": [
            {
                "entity_id": registry.async_get_entity_id(
                    "binary_sensor", DOMAIN, threshold_unique_id(bridge, subentry.subentry_id)
                ),
                "name": subentry.title,
                "sensor": subentry.data[CONF_SENSOR],
            }
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_THRESHOLD
        ],
    }


def _device(registry: er.EntityRegistry, bridge: str, device: DeviceDescription) -> dict[str, Any]:
    """A fleet row: the device's sensors that have rolling statistics, with their entities."""
    sensors = [
        {
            "id": sensor.id,
            "unit": sensor.unit,
            "device_class": sensor.device_class,
            **{
                statistic: registry.async_get_entity_id(
                    "sensor", DOMAIN, statistic_unique_id(bridge, device.id, sensor.id, statistic)
                )
                for statistic in CARD_STATISTICS
            },
        }
        for sensor in device.sensors
        if sensor.windowed
    ]
    return {"id": device.id, "name": device.name, "sensors": sensors}


def _machine(
    registry: er.EntityRegistry, bridge: str, device: DeviceDescription
) -> dict[str, Any] | None:
    """A vending machine's entities (its raw MQTT ones), or ``None`` for any other device."""
    sensors = {sensor.id: sensor for sensor in device.sensors}
    state = sensors.get("state")
    if state is None or state.kind is not SensorKind.ENUM or "credit" not in sensors:
        return None

    def entity(sensor_id: str) -> str | None:
        return registry.async_get_entity_id(
            "sensor", MQTT_DOMAIN, unique_id(bridge, device.id, sensor_id)
        )

    products = []
    for sensor in device.sensors:
        if not sensor.id.startswith("stock_"):
            continue
        slot = sensor.id.removeprefix("stock_")
        match = _PRODUCT_NAME.search(sensor.name or "")
        products.append(
            {
                "slot": slot,
                "name": match["name"] if match else slot,
                "stock": entity(sensor.id),
                "price": entity(f"price_{slot}"),
            }
        )
    return {
        "id": device.id.removesuffix(MACHINE_SUFFIX),
        "name": device.name,
        "state": entity("state"),
        "credit": entity("credit"),
        "products": products,
    }
