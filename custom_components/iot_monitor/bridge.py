"""The runtime of one configured bridge: its MQTT subscriptions, windows and throttled writes.

One ``BridgeRuntime`` per config entry, in ``entry.runtime_data``. It reads the bridge's
retained description, availability and readings; keeps one event-time window per numeric
sensor; tells the platforms about sensors the bridge announces and removes the entities of
sensors it no longer has; raises a repair issue while the bridge stays offline.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Final, cast

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
from .description import (
    BRIDGE_DEVICE_ID,
    BridgeDescription,
    DeviceDescription,
    InvalidDescription,
    SensorDescription,
    parse_description,
)
from .readings import broker_text, numeric_value, parse_reading, state_topic_ids
from .statistics import Outcome, SensorWindow, WindowKind, WindowResult

type IotMonitorConfigEntry = ConfigEntry[BridgeRuntime]
type SensorKey = tuple[str, str]
"""``(device_id, sensor_id)`` as in the bridge's state topics."""

MQTT_DOMAIN: Final = mqtt.DOMAIN
BROKER_SENSOR_ID: Final = "broker"
"""The bridge device's sensor that reports the broker in use."""
CONNECTIVITY_KEY: Final = "connectivity"
FAULT_LOG_QUIET_S: Final = 60.0


def statistic_unique_id(bridge_id: str, device_id: str, sensor_id: str, statistic: str) -> str:
    """Joined with ``/``, which bridge, device and sensor ids cannot contain: never ambiguous."""
    return f"{bridge_id}/{device_id}/{sensor_id}/{statistic}"


def bridge_unique_id(bridge_id: str, key: str) -> str:
    return f"{bridge_id}/{key}"


@callback
def async_mqtt_device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """The device Home Assistant's MQTT discovery created for ``("mqtt", identifier)``.

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


class FaultLog:
    """Counts bad input by kind and logs it once per burst, so a noisy bridge can't flood logs.

    The bridge's drivers have the same (``iot_monitor_bridge.drivers.base.FaultLog``), but the
    integration is installed without the bridge package.
    """

    def __init__(self, source: str) -> None:
        self.counts: Counter[str] = Counter()
        self._source = source
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def fault(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < FAULT_LOG_QUIET_S:
            self._suppressed[kind] += 1
            return
        more = self._suppressed.pop(kind, 0)
        suffix = f" ({more} more since the last report)" if more else ""
        LOGGER.warning("%s: %s: %s%s", self._source, kind, detail, suffix)
        self._last_logged[kind] = now


class Listeners:
    """Callbacks to run after each update, such as the entities' state writes."""

    def __init__(self) -> None:
        self._callbacks: list[CALLBACK_TYPE] = []

    @callback
    def add(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` on each ``notify``; returns the remover."""
        self._callbacks.append(listener)
        return lambda: self._callbacks.remove(listener)

    @callback
    def notify(self) -> None:
        for listener in self._callbacks:
            listener()


class Throttle:
    """Runs an action at most once per interval; a request inside the interval runs at its end.

    The trailing run means the last value of a burst is always written.
    """

    def __init__(self, hass: HomeAssistant, interval: float, action: Callable[[], None]) -> None:
        self._hass = hass
        self._interval = interval
        self._action = action
        self._job = HassJob(
            self._async_cooldown_over, "iot_monitor throttle", cancel_on_shutdown=True
        )
        self._cooldown: CALLBACK_TYPE | None = None
        self._pending = False

    @callback
    def async_request(self) -> None:
        if self._cooldown is not None:
            self._pending = True
            return
        self._async_run()

    @callback
    def _async_run(self) -> None:
        self._pending = False
        self._action()
        self._cooldown = async_call_later(self._hass, self._interval, self._job)

    @callback
    def _async_cooldown_over(self, _now: datetime) -> None:
        self._cooldown = None
        if self._pending:
            self._async_run()

    @callback
    def async_cancel(self) -> None:
        if self._cooldown is not None:
            self._cooldown()
            self._cooldown = None
        self._pending = False


class SensorTrack:
    """One numeric sensor of the bridge: its window, latest result and the entities showing it."""

    def __init__(
        self,
        runtime: BridgeRuntime,
        device: DeviceDescription,
        sensor: SensorDescription,
    ) -> None:
        self.device_id = device.id
        self.identifier = device.identifier
        self.sensor = sensor
        self.window = SensorWindow(runtime.window_kind, runtime.window_length, runtime.lateness)
        self.result: WindowResult | None = None
        self.listeners = Listeners()
        """Told after each (throttled) update of ``result``."""
        self._throttle = Throttle(runtime.hass, runtime.throttle, self._async_publish)

    def describes(self, device: DeviceDescription, sensor: SensorDescription) -> bool:
        """Whether the entities made for this track still fit the described sensor."""
        return (device.identifier, sensor) == (self.identifier, self.sensor)

    @callback
    def async_add(self, ts_ms: int, seq: int, value: float) -> None:
        if self.window.add(ts_ms, seq, value) is Outcome.ACCEPTED:
            self._throttle.async_request()

    @callback
    def _async_publish(self) -> None:
        self.result = self.window.result()
        self.listeners.notify()

    @callback
    def async_shutdown(self) -> None:
        self._throttle.async_cancel()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "accepted": self.window.accepted,
            "late": self.window.late,
            "duplicates": self.window.duplicates,
            "result": None if self.result is None else asdict(self.result),
        }


class BridgeRuntime:
    """Everything one configured bridge needs while its config entry is loaded."""

    def __init__(self, hass: HomeAssistant, entry: IotMonitorConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.bridge_id: str = entry.data[CONF_BRIDGE_ID]
        self.base_topic = f"{entry.data[CONF_TOPIC_ROOT]}/{self.bridge_id}"
        options = {**DEFAULT_OPTIONS, **entry.options}
        self.window_kind = WindowKind(options[CONF_WINDOW_KIND])
        self.window_length = float(options[CONF_WINDOW_LENGTH])
        self.lateness = float(options[CONF_LATENESS])
        self.throttle = float(options[CONF_THROTTLE])
        selected = set(options[CONF_STATISTICS])
        self.statistics = tuple(stat for stat in ALL_STATISTICS if stat in selected)
        self.signal_sensors_added: SignalType[list[SensorTrack]] = SignalType(
            f"{DOMAIN}_{entry.entry_id}_sensors_added"
        )
        self.description: BridgeDescription | None = None
        self.tracks: dict[SensorKey, SensorTrack] = {}
        self.online: bool | None = None
        self.broker: str | None = None
        self.last_seen: datetime | None = None
        self.faults = FaultLog(f"bridge {self.bridge_id}")
        self.listeners = Listeners()
        """Told when availability, MQTT's connection or the broker in use changes."""
        # Read and followed in one go, so no change of MQTT's connection is missed.
        self.mqtt_connected = mqtt.is_connected(hass)
        self._unsubscribers: list[CALLBACK_TYPE] = [
            mqtt.async_subscribe_connection_status(hass, self._async_mqtt_connection_changed)
        ]
        self._offline_timer: CALLBACK_TYPE | None = None

    @property
    def issue_id(self) -> str:
        return f"bridge_offline_{self.bridge_id}"

    @property
    def bridge_identifier(self) -> str:
        """The bridge device's identifier: from the description, else the documented default."""
        if self.description is not None:
            for device in self.description.devices:
                if device.is_bridge:
                    return device.identifier
        return f"iot_monitor/{self.bridge_id}"

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
        for suffix, handler in (
            ("description", self._async_description_received),
            ("availability", self._async_availability_received),
            ("+/+/state", self._async_state_received),
        ):
            self._unsubscribers.append(
                await mqtt.async_subscribe(
                    self.hass, f"{self.base_topic}/{suffix}", handler, SUBSCRIBE_QOS
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
        """Undo ``async_start``: unsubscribe, cancel timers, withdraw the repair issue."""
        while self._unsubscribers:
            self._unsubscribers.pop()()
        for track in self.tracks.values():
            track.async_shutdown()
        self._async_cancel_offline_timer()
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

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
        try:
            description = parse_description(cast("str", msg.payload))  # subscribed as UTF-8
        except InvalidDescription as err:
            self.faults.fault("invalid_description", str(err))
            return
        if description.id != self.bridge_id:
            self.faults.fault("foreign_description", f"{msg.topic} describes {description.id}")
            return
        self._async_seen()
        self._async_apply_description(description)

    @callback
    def _async_apply_description(self, description: BridgeDescription) -> None:
        numeric = {
            (device.id, sensor.id): (device, sensor)
            for device in description.devices
            for sensor in device.sensors
            if sensor.numeric
        }
        for key, track in self.tracks.items():
            if key in numeric and not track.describes(*numeric[key]):
                # Units or classes changed: entities take them at creation, so start afresh.
                LOGGER.info("Bridge %s changed sensor %s/%s; reloading", self.bridge_id, *key)
                self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
                return
        self.description = description
        for key in self.tracks.keys() - numeric.keys():
            self.tracks.pop(key).async_shutdown()
        added = [
            SensorTrack(self, device, sensor)
            for key, (device, sensor) in numeric.items()
            if key not in self.tracks
        ]
        self.tracks.update(((track.device_id, track.sensor.id), track) for track in added)
        self._async_remove_stale_entities()
        if added:
            async_dispatcher_send(self.hass, self.signal_sensors_added, added)
        self._async_link_devices()

    def _expected_entities(self) -> dict[str, str]:
        """Unique id -> device identifier of every entity this bridge should have now."""
        bridge = self.bridge_identifier
        expected = {
            bridge_unique_id(self.bridge_id, CONNECTIVITY_KEY): bridge,
            bridge_unique_id(self.bridge_id, BROKER_SENSOR_ID): bridge,
        }
        for (device_id, sensor_id), track in self.tracks.items():
            for statistic in self.statistics:
                unique_id = statistic_unique_id(self.bridge_id, device_id, sensor_id, statistic)
                expected[unique_id] = track.identifier
        return expected

    @callback
    def _async_remove_stale_entities(self) -> None:
        """Remove entities of sensors (or statistics) that no longer exist, enabled or not."""
        registry = er.async_get(self.hass)
        expected = self._expected_entities()
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            if entity.unique_id not in expected:
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
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
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
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="bridge_offline",
            translation_placeholders={"name": self.entry.title},
        )

    # Readings

    @callback
    def _async_state_received(self, msg: mqtt.ReceiveMessage) -> None:
        key = state_topic_ids(self.base_topic, msg.topic)
        if key is None:
            return
        self._async_seen()
        track = self.tracks.get(key)
        if track is None and key != (BRIDGE_DEVICE_ID, BROKER_SENSOR_ID):
            return  # a raw sensor without statistics (text, enum, binary, location)
        reading = parse_reading(msg.payload)
        if reading is None:
            self.faults.fault("invalid_reading", f"{msg.topic}: {msg.payload!r}"[:160])
            return
        if track is None:
            self._async_broker_received(reading.value)
            return
        if (value := numeric_value(reading.value)) is None:
            self.faults.fault("non_numeric", f"{msg.topic}: {reading.value!r}"[:160])
            return
        track.async_add(reading.ts_ms, reading.seq, value)

    @callback
    def _async_broker_received(self, value: Any) -> None:
        if (broker := broker_text(value)) is None:
            self.faults.fault("invalid_broker", f"{value!r}"[:80])
            return
        if broker != self.broker:
            self.broker = broker
            self.listeners.notify()

    def diagnostics(self) -> dict[str, Any]:
        """What the diagnostics download shows about this bridge."""
        description = self.description
        return {
            "bridge_id": self.bridge_id,
            "base_topic": self.base_topic,
            "window": {
                "kind": self.window_kind.value,
                "length_s": self.window_length,
                "lateness_s": self.lateness,
                "throttle_s": self.throttle,
                "statistics": list(self.statistics),
            },
            "online": self.online,
            "last_seen": None if self.last_seen is None else self.last_seen.isoformat(),
            "broker": self.broker,
            "description": None
            if description is None
            else {
                "name": description.name,
                "version": description.version,
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
        }
