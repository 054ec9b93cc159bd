"""Connectivity of the bridge, from its retained availability topic, and window thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, override

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigSubentry,
)
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity
from homeassistant.util import dt as dt_util

from .const import (
    CONF_CLEAR_ARGUMENTS,
    CONF_CLEAR_COMMAND,
    CONF_COOLDOWN,
    CONF_HYSTERESIS,
    CONF_LOWER,
    CONF_REACTION,
    CONF_SENSOR,
    CONF_STATISTIC,
    CONF_TRIP_ARGUMENTS,
    CONF_TRIP_COMMAND,
    CONF_UPPER,
    DOMAIN,
    EVENT_THRESHOLD,
    LOGGER,
    SUBENTRY_THRESHOLD,
)
from .coordinator import (
    CONNECTIVITY_KEY,
    BridgeCoordinator,
    IotMonitorConfigEntry,
    async_mqtt_device,
    bridge_unique_id,
)
from .entity import IotMonitorEntity
from .sensor import ATTR_WINDOW_END, ATTR_WINDOW_START, utc_iso
from .services import DATA_CHANNELS
from .thresholds import (
    STATISTIC_VALUES,
    Command,
    Cooldown,
    Crossing,
    Limits,
    Reaction,
    Status,
    Threshold,
)
from .tracking import SensorTrack

PARALLEL_UPDATES = 0

THRESHOLD_KEY: Final = "threshold"
ATTR_LOWER_LIMIT: Final = "lower_limit"
ATTR_UPPER_LIMIT: Final = "upper_limit"
ATTR_VALUE: Final = "value"
ATTR_LAST_COMMAND: Final = "last_command"

CONNECTIVITY = BinarySensorEntityDescription(
    key=CONNECTIVITY_KEY,
    translation_key=CONNECTIVITY_KEY,
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
THRESHOLD = BinarySensorEntityDescription(
    key=THRESHOLD_KEY,
    translation_key=THRESHOLD_KEY,
    device_class=BinarySensorDeviceClass.PROBLEM,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the bridge's connectivity sensor, and one sensor per threshold as they are added.

    A threshold's subentry owns its entity and device: removing the subentry removes both.
    """
    coordinator = entry.runtime_data
    async_add_entities([BridgeConnectivity(coordinator)])
    added: set[str] = set()

    @callback
    def async_add_thresholds() -> None:
        for subentry in entry.get_subentries_of_type(SUBENTRY_THRESHOLD):
            if subentry.subentry_id not in added:
                added.add(subentry.subentry_id)
                async_add_entities(
                    [ThresholdSensor(coordinator, subentry)],
                    config_subentry_id=subentry.subentry_id,
                )

    @callback
    def async_entry_changed(_change: ConfigEntryChange, changed: ConfigEntry) -> None:
        if changed.entry_id == entry.entry_id:
            async_add_thresholds()

    async_add_thresholds()
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, async_entry_changed)
    )


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


def threshold_unique_id(bridge_id: str, subentry_id: str) -> str:
    """Return the unique id of a threshold's binary sensor (and its device's identifier)."""
    return f"{bridge_id}/{THRESHOLD_KEY}/{subentry_id}"


def _command(reaction: Mapping[str, Any], command_key: str, arguments_key: str) -> Command | None:
    name = reaction.get(command_key)
    return None if name is None else Command(name, reaction.get(arguments_key) or {})


@dataclass(frozen=True, slots=True)
class ThresholdStoredData(ExtraStoredData):
    """What a threshold keeps over a restart.

    The window that set its status, the newest window judged, and what the bridge answered
    to its last command.
    """

    crossing: Crossing | None
    newest_end_ms: int | None
    last_command: Mapping[str, Any] | None

    @override
    def as_dict(self) -> dict[str, Any]:
        return {
            "crossing": None if self.crossing is None else self.crossing.as_dict(),
            "newest_end_ms": self.newest_end_ms,
            "last_command": self.last_command,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdStoredData:
        """Read ``as_dict``'s output."""
        crossing = data["crossing"]
        return cls(
            None if crossing is None else Crossing.from_dict(crossing),
            data["newest_end_ms"],
            data["last_command"],
        )


class ThresholdSensor(BinarySensorEntity, RestoreEntity):
    """On while a statistic of one sensor is beyond a limit of its threshold.

    Judged on each window the statistic's sensor shows, by the window's end in event time
    (thresholds.py). A change on a live window fires ``EVENT_THRESHOLD`` (the device
    triggers) and sends the threshold's command; one that a replay brings only updates the
    state. After a restart the status is restored, not recomputed from an empty window.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = THRESHOLD

    def __init__(self, coordinator: BridgeCoordinator, subentry: ConfigSubentry) -> None:
        """Watch the statistic ``subentry`` names with its limits and commands."""
        data = subentry.data
        self.coordinator = coordinator
        device_id, sensor_id = data[CONF_SENSOR].split("/", 1)
        self._key = (device_id, sensor_id)
        self._value = STATISTIC_VALUES[data[CONF_STATISTIC]]
        self._limits = Limits(data.get(CONF_LOWER), data.get(CONF_UPPER), data[CONF_HYSTERESIS])
        settings = coordinator.settings
        self._horizon_ms = round((settings.length + settings.lateness) * 1000)
        self._threshold = Threshold(self._limits, self._horizon_ms)
        reaction = data[CONF_REACTION]
        self._cooldown = Cooldown(
            {
                Reaction.TRIP: _command(reaction, CONF_TRIP_COMMAND, CONF_TRIP_ARGUMENTS),
                Reaction.CLEAR: _command(reaction, CONF_CLEAR_COMMAND, CONF_CLEAR_ARGUMENTS),
            },
            reaction[CONF_COOLDOWN],
        )
        self._last_command: Mapping[str, Any] | None = None
        self._retry: CALLBACK_TYPE | None = None
        self._retry_job = HassJob(
            self._async_send_due, "iot_monitor threshold cooldown", cancel_on_shutdown=True
        )
        self._attr_unique_id = threshold_unique_id(coordinator.bridge_id, subentry.subentry_id)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, self._attr_unique_id)},
            name=subentry.title,
            entry_type=DeviceEntryType.SERVICE,
        )

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (stored := await self.async_get_last_extra_data()) is not None:
            restored = ThresholdStoredData.from_dict(stored.as_dict())
            self._threshold = Threshold(
                self._limits, self._horizon_ms, restored.crossing, restored.newest_end_ms
            )
            self._last_command = restored.last_command
        coordinator = self.coordinator
        self.async_on_remove(coordinator.listeners.add(self.async_write_ha_state))
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, coordinator.signal_sensors_added, self._async_sensors_added
            )
        )
        self.async_on_remove(self._async_cancel_retry)
        if (track := coordinator.tracks.get(self._key)) is not None:
            self._async_follow(track)

    @callback
    def _async_sensors_added(self, tracks: list[SensorTrack]) -> None:
        for track in tracks:
            if (track.device_id, track.sensor.id) == self._key:
                self._async_follow(track)

    @callback
    def _async_follow(self, track: SensorTrack) -> None:
        """Judge the track's windows; link the device to the sensor's device to show where."""
        self.async_on_remove(track.listeners.add(lambda: self._async_window(track)))
        sensor_device = async_mqtt_device(self.hass, track.identifier)
        if sensor_device is not None and self.device_entry is not None:
            dr.async_get(self.hass).async_update_device(
                self.device_entry.id, via_device_id=sensor_device.id
            )

    @callback
    def _async_window(self, track: SensorTrack) -> None:
        if (result := track.result) is None:
            return
        transition = self._threshold.judge(
            self._value(result),
            result.start_ms,
            result.end_ms,
            round(dt_util.utcnow().timestamp() * 1000),
        )
        if transition is None:
            return
        self.async_write_ha_state()
        if not transition.fires:
            return
        crossing = transition.crossing
        limit = self._limits.limit(crossing.status)
        if limit is None and transition.previous is not None:
            limit = self._limits.limit(transition.previous)  # the limit it came back from
        self.hass.bus.async_fire(
            EVENT_THRESHOLD,
            {
                "device_id": None if self.device_entry is None else self.device_entry.id,
                "entity_id": self.entity_id,
                "type": crossing.status.value,
                "value": crossing.value,
                "limit": limit,
                ATTR_WINDOW_START: utc_iso(crossing.start_ms),
                ATTR_WINDOW_END: utc_iso(crossing.end_ms),
            },
        )
        self._cooldown.want(transition.reaction)
        self._async_send_due()

    @callback
    def _async_send_due(self, _now: datetime | None = None) -> None:
        """Send the command due now, or come back when the cooldown lets it go."""
        self._async_cancel_retry()
        now = dt_util.utcnow().timestamp()
        if (command := self._cooldown.take(now)) is not None:
            self.coordinator.entry.async_create_background_task(
                self.hass, self._async_send(command), f"{DOMAIN} threshold command"
            )
        elif (wait := self._cooldown.wait(now)) is not None:
            self._retry = async_call_later(self.hass, wait, self._retry_job)

    @callback
    def _async_cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry()
            self._retry = None

    async def _async_send(self, command: Command) -> None:
        """Send through the bridge's command channel; show its answer as an attribute."""
        shown: dict[str, Any] = {"command": command.name, "sent": dt_util.utcnow().isoformat()}
        try:
            channel = self.hass.data[DATA_CHANNELS][self.coordinator.entry.entry_id]
            shown["result"] = await channel.async_send(command.name, dict(command.arguments))
        except HomeAssistantError as err:
            LOGGER.warning(
                "%s: the bridge did not carry out %s: %s", self.entity_id, command.name, err
            )
            shown["error"] = str(err)
        self._last_command = shown
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        """Like the statistics it judges: unavailable while the bridge is offline."""
        return self.coordinator.listening and self.coordinator.online is not False

    @property
    @override
    def is_on(self) -> bool | None:
        status = self._threshold.status
        return None if status is None else status is not Status.IN_RANGE

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """The limits; the window that set the status; the bridge's answer to the last command."""
        attributes: dict[str, Any] = {
            ATTR_LOWER_LIMIT: self._limits.lower,
            ATTR_UPPER_LIMIT: self._limits.upper,
        }
        if (crossing := self._threshold.crossing) is not None:
            attributes |= {
                ATTR_VALUE: crossing.value,
                ATTR_WINDOW_START: utc_iso(crossing.start_ms),
                ATTR_WINDOW_END: utc_iso(crossing.end_ms),
            }
        if self._last_command is not None:
            attributes[ATTR_LAST_COMMAND] = self._last_command
        return attributes

    @property
    @override
    def extra_restore_state_data(self) -> ThresholdStoredData:
        return ThresholdStoredData(
            self._threshold.crossing, self._threshold.newest_end_ms, self._last_command
        )
