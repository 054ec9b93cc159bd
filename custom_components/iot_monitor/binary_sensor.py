"""Connectivity of the bridge, from its retained availability topic."""

from __future__ import annotations

from typing import override

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import (
    CONNECTIVITY_KEY,
    BridgeCoordinator,
    IotMonitorConfigEntry,
    bridge_unique_id,
)
from .entity import IotMonitorEntity

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key=CONNECTIVITY_KEY,
    translation_key=CONNECTIVITY_KEY,
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the bridge's connectivity sensor."""
    async_add_entities([BridgeConnectivity(entry.runtime_data)])


class BridgeConnectivity(IotMonitorEntity, BinarySensorEntity):
    """On while the bridge says it is online; unknown until it has said anything."""

    entity_description = CONNECTIVITY

    def __init__(self, coordinator: BridgeCoordinator) -> None:
        """Show the connectivity of the coordinator's bridge."""
        super().__init__(
            coordinator,
            coordinator.bridge_identifier,
            bridge_unique_id(coordinator.bridge_id, CONNECTIVITY_KEY),
        )

    @property
    @override
    def available(self) -> bool:
        """While MQTT is connected: the bridge being offline is what this entity reports."""
        return self.coordinator.listening

    @property
    @override
    def is_on(self) -> bool | None:
        return self.coordinator.online
