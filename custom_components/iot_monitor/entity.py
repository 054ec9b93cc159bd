"""Base entity of the iot_monitor integration."""

from __future__ import annotations

from typing import override

from homeassistant.helpers.entity import Entity

from .coordinator import BridgeCoordinator, async_mqtt_device


class IotMonitorEntity(Entity):
    """An entity shown on the device that Home Assistant's MQTT discovery made for the bridge.

    The raw sensors of a device come from MQTT discovery; this integration's entities join
    them on the same device page by linking to that device (a device belongs to a single
    config entry, so they do not register one of their own). If discovery has not created
    the device yet, the coordinator links the entity when it appears.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, coordinator: BridgeCoordinator, device_identifier: str, unique_id: str
    ) -> None:
        """Link to the MQTT device ``device_identifier`` (if it exists yet)."""
        self.coordinator = coordinator
        self._attr_unique_id = unique_id
        self.device_entry = async_mqtt_device(coordinator.hass, device_identifier)

    @property
    @override
    def available(self) -> bool:
        """Like the bridge's raw sensors: unavailable while it is offline or MQTT is down."""
        return self.coordinator.listening and self.coordinator.online is not False

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.listeners.add(self.async_write_ha_state))
