"""The coordinator of one configured bridge: its MQTT subscriptions, windows and repairs.

One ``BridgeCoordinator`` per config entry, in ``entry.runtime_data``. It reads the bridge's
retained description and availability and its stream of readings (every reading, in ``seq``
order, replays included; docs/mqtt.md); keeps one ``SensorTrack`` per numeric sensor; tells
the platforms about sensors the bridge announces and removes the entities of sensors it no
longer has; raises a repair issue while the bridge stays offline or speaks another contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HassJob, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.signal_type import SignalType

from .const import (
    ALL_STATISTICS,
    CONF_BRIDGE_ID,
    CONF_LATENESS,
    CONF_STATISTICS,
    CONF_THROTTLE,
    CONF_TOPIC_ROOT,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DEFAULT_OPTIONS,
    DOMAIN,
    LOGGER,
    OFFLINE_REPAIR_AFTER,
    SUBSCRIBE_QOS,
)
from .contract import CONTRACT_VERSION
from .contract.description import (
    BridgeDescription,
    ContractMismatchError,
    InvalidDescriptionError,
    decode_description,
)
from .contract.faults import FaultLog
from .contract.ids import BRIDGE_DEVICE_ID, device_identifier
from .contract.readings import InvalidPayloadError, decode_stream, numeric_value
from .contract.topics import Topics
from .history import BridgeHistory
from .statistics import WindowKind
from .tracking import Listeners, SensorTrack, StatisticsWriter, WindowSettings

type IotMonitorConfigEntry = ConfigEntry[BridgeCoordinator]
type SensorKey = tuple[str, str]
"""``(device_id, sensor_id)`` as in the bridge's stream."""

MQTT_DOMAIN: Final = mqtt.DOMAIN
CONNECTIVITY_KEY: Final = "connectivity"


def statistic_unique_id(bridge_id: str, device_id: str, sensor_id: str, statistic: str) -> str:
    """Joined with ``/``, which bridge, device and sensor ids cannot contain: never ambiguous."""
    return f"{bridge_id}/{device_id}/{sensor_id}/{statistic}"


def bridge_unique_id(bridge_id: str, key: str) -> str:
    """Return the unique id of an entity of the bridge itself, such as its connectivity."""
    return f"{bridge_id}/{key}"


@callback
def async_mqtt_device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """Return the device Home Assistant's MQTT discovery created for ``("mqtt", identifier)``.

    Devices belong to a single config entry: the statistics link their entities to the
    MQTT integration's device instead of registering a device of their own.
    """
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(MQTT_DOMAIN):
        device = registry.async_get_device_by_identifier((MQTT_DOMAIN, identifier), entry.entry_id)
        if device is not None:
            return device
    return None


@callback
def _device_created(data: dr.EventDeviceRegistryUpdatedData) -> bool:
    return data["action"] == "create"


class BridgeCoordinator:
    """Everything one configured bridge needs while its config entry is loaded."""

    def __init__(self, hass: HomeAssistant, entry: IotMonitorConfigEntry) -> None:
        """Read the entry's settings; ``async_start`` subscribes."""
        self.hass = hass
        self.entry = entry
        self.bridge_id: str = entry.data[CONF_BRIDGE_ID]
        self.topics = Topics(entry.data[CONF_TOPIC_ROOT], self.bridge_id)
        options = {**DEFAULT_OPTIONS, **entry.options}
        self.settings = WindowSettings(
            kind=WindowKind(options[CONF_WINDOW_KIND]),
            length=float(options[CONF_WINDOW_LENGTH]),
            lateness=float(options[CONF_LATENESS]),
            throttle=float(options[CONF_THROTTLE]),
        )
        selected = set(options[CONF_STATISTICS])
        self.statistics = tuple(stat for stat in ALL_STATISTICS if stat in selected)
        self.signal_sensors_added: SignalType[list[SensorTrack]] = SignalType(
            f"{DOMAIN}_{entry.entry_id}_sensors_added"
        )
        self.description: BridgeDescription | None = None
        self.tracks: dict[SensorKey, SensorTrack] = {}
        self.history = BridgeHistory(hass, self.bridge_id, lambda: self.description)
        self.writer = StatisticsWriter(hass, self.settings.throttle)
        self.online: bool | None = None
        self.last_seen: datetime | None = None
        self.readings_received = 0
        self.faults = FaultLog(LOGGER, f"bridge {self.bridge_id}")
        self.listeners = Listeners()
        """Told when availability or MQTT's connection changes."""
        # Read and followed in one go, so no change of MQTT's connection is missed.
        self.mqtt_connected = mqtt.is_connected(hass)
        self._unsubscribers: list[CALLBACK_TYPE] = [
            mqtt.async_subscribe_connection_status(hass, self._async_mqtt_connection_changed)
        ]
        self._offline_timer: CALLBACK_TYPE | None = None

    @property
    def offline_issue_id(self) -> str:
        """Return the id of the repair issue raised while the bridge stays offline."""
        return f"bridge_offline_{self.bridge_id}"

    @property
    def contract_issue_id(self) -> str:
        """Return the id of the repair issue raised while the bridge speaks another contract."""
        return f"contract_mismatch_{self.bridge_id}"

    @property
    def bridge_identifier(self) -> str:
        """Return the bridge device's Home Assistant identifier."""
        return device_identifier(self.bridge_id, BRIDGE_DEVICE_ID)

    async def async_start(self) -> None:
        """Subscribe to the bridge; retained description and availability arrive at once."""
        self._unsubscribers.append(
            self.hass.bus.async_listen(
                dr.EVENT_DEVICE_REGISTRY_UPDATED,
                self._async_device_registry_updated,
                event_filter=_device_created,
            )
        )
        self._async_update_offline_timer()
        for topic, handler, encoding in (
            (self.topics.description, self._async_description_received, None),
            (self.topics.availability, self._async_availability_received, "utf-8"),
            (self.topics.stream, self._async_stream_received, None),
        ):
            self._unsubscribers.append(
                await mqtt.async_subscribe(
                    self.hass, topic, handler, SUBSCRIBE_QOS, encoding=encoding
                )
            )

    @property
    def listening(self) -> bool:
        """Whether what the bridge publishes can reach Home Assistant now.

        Not while Home Assistant's MQTT client is disconnected; during shutdown the last
        states stay, as those of the MQTT integration's entities do.
        """
        return self.mqtt_connected or self.hass.is_stopping

    @callback
    def async_stop(self) -> None:
        """Undo ``async_start``: unsubscribe, cancel timers, withdraw the repair issues."""
        while self._unsubscribers:
            self._unsubscribers.pop()()
        self.writer.async_cancel()
        self._async_cancel_offline_timer()
        ir.async_delete_issue(self.hass, DOMAIN, self.offline_issue_id)
        ir.async_delete_issue(self.hass, DOMAIN, self.contract_issue_id)

    @callback
    def _async_mqtt_connection_changed(self, connected: bool) -> None:
        self.mqtt_connected = connected
        self._async_update_offline_timer()
        self.listeners.notify()

    @callback
    def _async_seen(self) -> None:
        self.last_seen = dt_util.utcnow()

    # Description: which sensors exist

    @callback
    def _async_description_received(self, msg: mqtt.ReceiveMessage) -> None:
        if not msg.payload:
            return  # the retained description was withdrawn
        try:
            description = decode_description(msg.payload)
        except ContractMismatchError as err:
            self._async_contract_mismatch(err)
            return
        except InvalidDescriptionError as err:
            self.faults.fault("invalid_description", str(err))
            return
        if description.id != self.bridge_id:
            self.faults.fault("foreign_description", f"{msg.topic} describes {description.id}")
            return
        ir.async_delete_issue(self.hass, DOMAIN, self.contract_issue_id)
        self._async_seen()
        self._async_apply_description(description)

    @callback
    def _async_contract_mismatch(self, err: ContractMismatchError) -> None:
        """Say which side to update instead of failing silently."""
        self.faults.fault("contract_mismatch", str(err))
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.contract_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"update_{err.update}",
            translation_placeholders={
                "name": self.entry.title,
                "bridge_contract": str(err.spoken),
                "integration_contract": str(CONTRACT_VERSION),
            },
        )

    @callback
    def _async_apply_description(self, description: BridgeDescription) -> None:
        numeric = {
            (device.id, sensor.id): (device, sensor)
            for device in description.devices
            for sensor in device.sensors
            if sensor.windowed
        }
        for key, track in self.tracks.items():
            if key in numeric and not track.describes(*numeric[key]):
                # Units or classes changed: entities take them at creation, so start afresh.
                LOGGER.info("Bridge %s changed sensor %s/%s; reloading", self.bridge_id, *key)
                self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
                return
        self.description = description
        for key in self.tracks.keys() - numeric.keys():
            self.writer.async_forget(self.tracks.pop(key))
        added = [
            SensorTrack(self.settings, device, sensor)
            for key, (device, sensor) in numeric.items()
            if key not in self.tracks
        ]
        self.tracks.update(((track.device_id, track.sensor.id), track) for track in added)
        self._async_remove_stale_entities()
        if added:
            async_dispatcher_send(self.hass, self.signal_sensors_added, added)
        self._async_link_devices()

    def _expected_entities(self) -> dict[str, str]:
        """Return unique id -> device identifier of every entity this bridge should have now."""
        expected = {
            bridge_unique_id(self.bridge_id, CONNECTIVITY_KEY): self.bridge_identifier,
        }
        for (device_id, sensor_id), track in self.tracks.items():
            for statistic in self.statistics:
                unique_id = statistic_unique_id(self.bridge_id, device_id, sensor_id, statistic)
                expected[unique_id] = track.identifier
        return expected

    @callback
    def _async_remove_stale_entities(self) -> None:
        """Remove entities of sensors (or statistics) that no longer exist, enabled or not.

        A threshold's entity stays: its subentry is the user's, and removing it removes both.
        """
        registry = er.async_get(self.hass)
        expected = self._expected_entities()
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            if entity.config_subentry_id is None and entity.unique_id not in expected:
                registry.async_remove(entity.entity_id)

    @callback
    def _async_link_devices(self) -> None:
        """Attach entities to their MQTT devices, which discovery may create after them."""
        registry = er.async_get(self.hass)
        expected = self._expected_entities()
        devices = {ident: async_mqtt_device(self.hass, ident) for ident in set(expected.values())}
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            device = devices.get(expected.get(entity.unique_id, ""))
            if device is not None and entity.device_id != device.id:
                registry.async_update_entity(entity.entity_id, device_id=device.id)

    @callback
    def _async_device_registry_updated(
        self, event: Event[dr.EventDeviceRegistryUpdatedData]
    ) -> None:
        device = dr.async_get(self.hass).async_get(event.data["device_id"])
        ours = {(MQTT_DOMAIN, identifier) for identifier in self._expected_entities().values()}
        if device is not None and not ours.isdisjoint(device.identifiers):
            self._async_link_devices()

    # Availability and the offline repair issue

    @callback
    def _async_availability_received(self, msg: mqtt.ReceiveMessage) -> None:
        if msg.payload == "online":
            online = True
        elif msg.payload == "offline":
            online = False
        else:
            self.faults.fault("invalid_availability", f"{msg.payload!r}"[:80])
            return
        if online:
            self._async_seen()
            ir.async_delete_issue(self.hass, DOMAIN, self.offline_issue_id)
        changed = online != self.online
        if changed and not online:
            LOGGER.info("Bridge %s is offline", self.bridge_id)
        elif changed and self.online is False:
            LOGGER.info("Bridge %s is back online", self.bridge_id)
        self.online = online
        self._async_update_offline_timer()
        if changed:
            self.listeners.notify()

    @callback
    def _async_update_offline_timer(self) -> None:
        """Time the bridge's silence only while it is not online and MQTT is connected.

        While Home Assistant's own MQTT client is disconnected the bridge cannot be heard
        and is not to blame: the timer starts afresh once MQTT is connected again.
        """
        if self.online or not self.mqtt_connected:
            self._async_cancel_offline_timer()
        elif self._offline_timer is None:
            self._offline_timer = async_call_later(
                self.hass,
                OFFLINE_REPAIR_AFTER,
                HassJob(
                    self._async_offline_too_long, "iot_monitor offline", cancel_on_shutdown=True
                ),
            )

    @callback
    def _async_cancel_offline_timer(self) -> None:
        if self._offline_timer is not None:
            self._offline_timer()
            self._offline_timer = None

    @callback
    def _async_offline_too_long(self, _now: datetime) -> None:
        self._offline_timer = None
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.offline_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="bridge_offline",
            translation_placeholders={"name": self.entry.title},
        )

    # Readings

    @callback
    def _async_stream_received(self, msg: mqtt.ReceiveMessage) -> None:
        """Add every numeric reading of a stream message to its sensor's window."""
        try:
            readings = decode_stream(msg.payload)
        except InvalidPayloadError as err:
            self.faults.fault("invalid_stream", str(err)[:160])
            return
        self._async_seen()
        self.readings_received += len(readings)
        self.history.async_add(readings)
        tracks = self.tracks
        changed = self.writer.async_changed
        for reading in readings:
            track = tracks.get((reading.device_id, reading.sensor_id))
            if track is None:
                continue  # a sensor without statistics (text, enum, binary, location)
            if (value := numeric_value(reading.value)) is None:
                self.faults.fault(
                    "non_numeric",
                    f"{reading.device_id}/{reading.sensor_id}: {reading.value!r}"[:160],
                )
                continue
            if track.add(reading.ts_ms, reading.seq, value):
                changed(track)

    def diagnostics(self) -> dict[str, Any]:
        """Return what the diagnostics download shows about this bridge."""
        description = self.description
        return {
            "bridge_id": self.bridge_id,
            "base_topic": self.topics.base,
            "window": {
                "kind": self.settings.kind.value,
                "length_s": self.settings.length,
                "lateness_s": self.settings.lateness,
                "throttle_s": self.settings.throttle,
                "statistics": list(self.statistics),
            },
            "online": self.online,
            "last_seen": None if self.last_seen is None else self.last_seen.isoformat(),
            "readings_received": self.readings_received,
            "description": None
            if description is None
            else {
                "name": description.name,
                "version": description.version,
                "contract": description.contract,
                "device_count": description.device_count,
                "devices": {
                    device.id: [sensor.id for sensor in device.sensors]
                    for device in description.devices
                },
            },
            "windows": {
                f"{device_id}/{sensor_id}": track.diagnostics()
                for (device_id, sensor_id), track in self.tracks.items()
            },
            "faults": dict(self.faults.counts),
            "history": self.history.diagnostics(),
        }
