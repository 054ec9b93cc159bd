"""Config flow: bridges found by zeroconf or MQTT discovery, or picked by hand.

The link to a bridge is Home Assistant's own MQTT integration; the flow only needs the
bridge's id and topic root, and checks them by reading the bridge's retained description.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, Final, override

import probatio
from homeassistant.components import mqtt
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlowWithReload,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    ObjectSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.translation import async_get_translations

from .const import (
    ALL_STATISTICS,
    CONF_BRIDGE_ID,
    CONF_CLEAR_ARGUMENTS,
    CONF_CLEAR_COMMAND,
    CONF_COOLDOWN,
    CONF_HOST,
    CONF_HYSTERESIS,
    CONF_LATENESS,
    CONF_LOWER,
    CONF_REACTION,
    CONF_SENSOR,
    CONF_STATISTIC,
    CONF_STATISTICS,
    CONF_THROTTLE,
    CONF_TOPIC_ROOT,
    CONF_TRIP_ARGUMENTS,
    CONF_TRIP_COMMAND,
    CONF_UPPER,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DEFAULT_COOLDOWN,
    DEFAULT_OPTIONS,
    DOMAIN,
    LOGGER,
    STAT_MEAN,
    SUBENTRY_THRESHOLD,
    SUBSCRIBE_QOS,
    WINDOW_SLIDING,
    WINDOW_TUMBLING,
)
from .contract.commands import COMMANDS, check_arguments
from .contract.description import (
    BridgeDescription,
    ContractMismatchError,
    InvalidDescriptionError,
    decode_description,
)
from .contract.ids import BRIDGE_ID_PATTERN, TOPIC_ROOT_PATTERN
from .contract.topics import DEFAULT_TOPIC_ROOT, DESCRIPTION_SUBSCRIPTION, Topics
from .sensor import sensor_subject
from .thresholds import Limits

SUBSCRIBE_TIMEOUT: Final = 10.0
"""Seconds the broker has to acknowledge a subscription before the flow gives up."""
RETAINED_QUIET: Final = 0.5
"""A broker replays retained messages right after acknowledging a subscription, but MQTT
marks no end of the replay: it is taken as over once this many seconds pass without one."""
RETAINED_LIMIT: Final = 5.0
"""Upper bound on listening for retained messages, should a publisher never pause."""

# The bridge's own configuration allows exactly these; anything else could hold MQTT wildcards
# or separators.
_BRIDGE_ID = re.compile(BRIDGE_ID_PATTERN)
_TOPIC_ROOT = re.compile(TOPIC_ROOT_PATTERN)


class CannotConnect(HomeAssistantError):
    """Home Assistant's MQTT client is not connected to its broker."""


class BridgeNotFound(HomeAssistantError):
    """No description of the bridge is retained on the broker."""


async def async_read_retained(hass: HomeAssistant, topic_filter: str) -> dict[str, str]:
    """The retained payloads under ``topic_filter``, by topic; empty ones are left out.

    Raises ``CannotConnect`` when MQTT is not set up, its client is not connected or the
    broker does not acknowledge the subscription in time.
    """
    if mqtt.DATA_MQTT not in hass.data or not mqtt.is_connected(hass):
        raise CannotConnect
    payloads: dict[str, str] = {}
    subscribed = asyncio.Event()
    received = asyncio.Event()

    @callback
    def _message(msg: mqtt.ReceiveMessage) -> None:
        payload = msg.payload  # a str: subscribed with the default UTF-8 encoding
        if isinstance(payload, str) and payload:
            payloads[msg.topic] = payload
        else:  # an empty retained message deletes the retained one
            payloads.pop(msg.topic, None)
        received.set()

    unsubscribe = await mqtt.async_subscribe(hass, topic_filter, _message, SUBSCRIBE_QOS)
    stop_watching = mqtt.async_on_subscribe_done(hass, topic_filter, SUBSCRIBE_QOS, subscribed.set)
    try:
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await subscribed.wait()
        except TimeoutError:
            raise CannotConnect from None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RETAINED_LIMIT):
                while True:
                    received.clear()
                    async with asyncio.timeout(RETAINED_QUIET):
                        await received.wait()
    finally:
        stop_watching()
        unsubscribe()
    return payloads


def _parse(payload: str, topic: str) -> BridgeDescription:
    """Parse a description and check it belongs on ``topic``, so ids cannot be spoofed."""
    description = decode_description(payload)
    if Topics(description.topic_root, description.id).description != topic:
        raise InvalidDescriptionError(f"description of {description.id!r} published on {topic!r}")
    return description


async def async_fetch_description(
    hass: HomeAssistant, topic_root: str, bridge_id: str
) -> BridgeDescription:
    """Read one bridge's retained description.

    Raises ``CannotConnect``, ``BridgeNotFound`` or ``InvalidDescriptionError`` (of which
    ``ContractMismatchError`` says which side to update).
    """
    topic = Topics(topic_root, bridge_id).description
    payload = (await async_read_retained(hass, topic)).get(topic)
    if payload is None:
        raise BridgeNotFound
    return _parse(payload, topic)


async def async_seen_bridges(hass: HomeAssistant) -> tuple[BridgeDescription, ...]:
    """Bridges with the default topic root whose description is retained on the broker."""
    seen = []
    for topic, payload in (await async_read_retained(hass, DESCRIPTION_SUBSCRIPTION)).items():
        try:
            seen.append(_parse(payload, topic))
        except InvalidDescriptionError as err:
            LOGGER.debug("Ignoring the description on %s: %s", topic, err)
    return tuple(seen)


def _entry_data(description: BridgeDescription) -> dict[str, str]:
    return {CONF_BRIDGE_ID: description.id, CONF_TOPIC_ROOT: description.topic_root}


class IotMonitorConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a bridge: discovered (zeroconf, MQTT) and confirmed, or chosen by hand."""

    VERSION = 1

    _description: BridgeDescription
    _host: str | None = None
    _seen: tuple[BridgeDescription, ...] = ()

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> IotMonitorOptionsFlow:
        return IotMonitorOptionsFlow()

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        return {SUBENTRY_THRESHOLD: ThresholdSubentryFlow}

    @override
    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A bridge announced itself; its TXT record says where its description is."""
        properties = discovery_info.properties
        bridge_id = properties.get("id") or ""
        topic_root = properties.get("topic_root") or DEFAULT_TOPIC_ROOT
        if not _BRIDGE_ID.fullmatch(bridge_id) or not _TOPIC_ROOT.fullmatch(topic_root):
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(bridge_id)
        self._host = discovery_info.host
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: self._host, CONF_TOPIC_ROOT: topic_root}
        )
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        try:
            self._description = await async_fetch_description(self.hass, topic_root, bridge_id)
        except CannotConnect:
            return self.async_abort(reason="cannot_connect")
        except BridgeNotFound:
            broker = properties.get("broker_host") or "?"
            if port := properties.get("broker_port"):
                broker = f"{broker}:{port}"
            return self.async_abort(
                reason="description_unavailable",
                description_placeholders={
                    "name": properties.get("name") or bridge_id,
                    "broker": broker,
                },
            )
        except ContractMismatchError as err:
            return self.async_abort(reason=f"update_{err.update}")
        except InvalidDescriptionError:
            return self.async_abort(reason="invalid_discovery_info")
        return await self.async_step_confirm()

    @override
    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A bridge's retained description appeared on the default topic root."""
        payload = discovery_info.payload
        if not payload:
            return self.async_abort(reason="bridge_removed")
        try:
            self._description = _parse(
                payload if isinstance(payload, str) else bytes(payload).decode(),
                discovery_info.topic,
            )
        except ContractMismatchError as err:
            return self.async_abort(reason=f"update_{err.update}")
        except InvalidDescriptionError, UnicodeDecodeError:
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(self._description.id)
        # While the bridge is online at the entry's topic root, a description at another root
        # is one left retained at a former root: it must not undo a reconfiguration.
        may_have_moved = not await self._async_configured_bridge_online()
        self._abort_if_unique_id_configured(
            updates={CONF_TOPIC_ROOT: self._description.topic_root} if may_have_moved else None
        )
        return await self.async_step_confirm()

    async def _async_configured_bridge_online(self) -> bool:
        """Whether the broker holds ``online`` for this bridge at its entry's topic root."""
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, self._description.id
        )
        if entry is None or entry.data[CONF_TOPIC_ROOT] == self._description.topic_root:
            return False
        topic = Topics(entry.data[CONF_TOPIC_ROOT], self._description.id).availability
        try:
            return (await async_read_retained(self.hass, topic)).get(topic) == "online"
        except CannotConnect:
            return True  # unknown: leave the entry where it is

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was discovered before adding it."""
        description = self._description
        if user_input is not None:
            data = _entry_data(description)
            if self._host is not None:
                data[CONF_HOST] = self._host
            return self.async_create_entry(title=description.name, data=data)
        self._set_confirm_only()
        self.context["title_placeholders"] = {"name": description.name}
        return self.async_show_form(
            step_id="confirm",
            description_placeholders={
                "name": description.name,
                "bridge_id": description.id,
                "devices": str(description.device_count),
            },
        )

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick one of the bridges seen on MQTT, or type the id of another."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            description, errors = await self._async_validate(user_input)
            if description is not None:
                await self.async_set_unique_id(description.id, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=description.name, data=_entry_data(description)
                )
        else:
            try:
                self._seen = await async_seen_bridges(self.hass)
            except CannotConnect:
                errors["base"] = "cannot_connect"
        configured = self._async_current_ids(include_ignore=False)
        options = [
            SelectOptionDict(value=bridge.id, label=f"{bridge.name} ({bridge.id})")
            for bridge in self._seen
            if bridge.id not in configured
        ]
        schema = probatio.Schema(
            {
                probatio.Required(CONF_BRIDGE_ID): SelectSelector(
                    SelectSelectorConfig(
                        options=options,
                        custom_value=True,
                        sort=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                probatio.Required(CONF_TOPIC_ROOT, default=DEFAULT_TOPIC_ROOT): TextSelector(),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"seen": str(len(options))},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Point the entry at a new topic root (the bridge must stay the same one)."""
        entry = self._get_reconfigure_entry()
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            description, errors = await self._async_validate(user_input)
            if description is not None:
                await self.async_set_unique_id(description.id, raise_on_progress=False)
                self._abort_if_unique_id_mismatch(
                    description_placeholders={"bridge_id": description.id}
                )
                return self.async_update_reload_and_abort(
                    entry, data_updates=_entry_data(description)
                )
        schema = probatio.Schema(
            {
                probatio.Required(CONF_BRIDGE_ID): TextSelector(),
                probatio.Required(CONF_TOPIC_ROOT): TextSelector(),
            }
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or entry.data),
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    async def _async_validate(
        self, user_input: dict[str, Any]
    ) -> tuple[BridgeDescription | None, dict[str, str]]:
        """The description at the typed id and topic root, or the errors to show."""
        bridge_id = str(user_input[CONF_BRIDGE_ID]).strip()
        topic_root = str(user_input[CONF_TOPIC_ROOT]).strip().strip("/")
        errors: dict[str, str] = {}
        if not _BRIDGE_ID.fullmatch(bridge_id):
            errors[CONF_BRIDGE_ID] = "invalid_bridge_id"
        if not _TOPIC_ROOT.fullmatch(topic_root):
            errors[CONF_TOPIC_ROOT] = "invalid_topic_root"
        if errors:
            return None, errors
        try:
            return await async_fetch_description(self.hass, topic_root, bridge_id), errors
        except CannotConnect:
            errors["base"] = "cannot_connect"
        except BridgeNotFound:
            errors["base"] = "bridge_not_found"
        except ContractMismatchError as err:
            errors["base"] = f"update_{err.update}"
        except InvalidDescriptionError as err:
            LOGGER.debug("Description of %s/%s rejected: %s", topic_root, bridge_id, err)
            errors["base"] = "invalid_description"
        return None, errors


OPTIONS_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(CONF_WINDOW_KIND): SelectSelector(
            SelectSelectorConfig(
                options=[WINDOW_TUMBLING, WINDOW_SLIDING],
                translation_key=CONF_WINDOW_KIND,
                mode=SelectSelectorMode.LIST,
            )
        ),
        probatio.Required(CONF_WINDOW_LENGTH): NumberSelector(
            NumberSelectorConfig(
                min=1, max=3600, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
            )
        ),
        probatio.Required(CONF_LATENESS): NumberSelector(
            NumberSelectorConfig(
                min=0, max=3600, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
            )
        ),
        probatio.Required(CONF_STATISTICS): SelectSelector(
            SelectSelectorConfig(
                options=list(ALL_STATISTICS),
                translation_key=CONF_STATISTICS,
                multiple=True,
                mode=SelectSelectorMode.LIST,
            )
        ),
        probatio.Required(CONF_THROTTLE): NumberSelector(
            NumberSelectorConfig(
                min=0.1, max=60, step=0.1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
            )
        ),
    }
)


class IotMonitorOptionsFlow(OptionsFlowWithReload):
    """Window, lateness, statistics and throttle; saving reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the options with their current values; save what the user submits."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, {**DEFAULT_OPTIONS, **self.config_entry.options}
            ),
        )


_NUMBER: Final = NumberSelector(NumberSelectorConfig(step="any", mode=NumberSelectorMode.BOX))
_NON_NEGATIVE: Final = NumberSelector(
    NumberSelectorConfig(min=0, step="any", mode=NumberSelectorMode.BOX)
)
_SECONDS: Final = NumberSelector(
    NumberSelectorConfig(min=0, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX)
)
_COMMAND_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(options=list(COMMANDS), mode=SelectSelectorMode.DROPDOWN)
)
_REACTION_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional(CONF_TRIP_COMMAND): _COMMAND_SELECTOR,
        probatio.Optional(CONF_TRIP_ARGUMENTS): ObjectSelector(),
        probatio.Optional(CONF_CLEAR_COMMAND): _COMMAND_SELECTOR,
        probatio.Optional(CONF_CLEAR_ARGUMENTS): ObjectSelector(),
        probatio.Required(CONF_COOLDOWN, default=DEFAULT_COOLDOWN): _SECONDS,
    }
)
_THRESHOLD_DEFAULTS: Final = {
    CONF_STATISTIC: STAT_MEAN,
    CONF_HYSTERESIS: 0,
    CONF_REACTION: {CONF_COOLDOWN: DEFAULT_COOLDOWN},
}


def _reaction_errors(reaction: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Refuse, as the command actions do, what the bridge would refuse whatever its setup."""
    errors: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    for command_key, arguments_key, kind in (
        (CONF_TRIP_COMMAND, CONF_TRIP_ARGUMENTS, "trip"),
        (CONF_CLEAR_COMMAND, CONF_CLEAR_ARGUMENTS, "clear"),
    ):
        command, arguments = reaction.get(command_key), reaction.get(arguments_key) or {}
        if command is None:
            if arguments:
                errors[command_key] = "arguments_without_command"
        elif not isinstance(arguments, dict):
            errors[arguments_key] = f"{kind}_arguments_invalid"
            placeholders[f"{kind}_problem"] = "expected an object"
        elif problems := check_arguments(command, arguments):
            errors[arguments_key] = f"{kind}_arguments_invalid"
            placeholders[f"{kind}_problem"] = problems[0].message
    return errors, placeholders


class ThresholdSubentryFlow(ConfigSubentryFlow):
    """Add or change a threshold: limits on a statistic of one sensor, and its commands.

    Adding one adds its binary sensor without reloading the bridge; changing one reloads it,
    and the binary sensor restores its status under the new limits.
    """

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a threshold."""
        return await self._async_step_threshold("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a threshold."""
        return await self._async_step_threshold(
            "reconfigure", user_input, self._get_reconfigure_subentry()
        )

    async def _async_step_threshold(
        self, step_id: str, user_input: dict[str, Any] | None, subentry: ConfigSubentry | None
    ) -> SubentryFlowResult:
        entry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED or entry.runtime_data.description is None:
            return self.async_abort(reason="bridge_not_ready")
        sensors = await self._async_sensors(entry.runtime_data.description)
        errors: dict[str, str] = {}
        placeholders = {"name": entry.title}
        if user_input is not None:
            limits = Limits(
                user_input.get(CONF_LOWER), user_input.get(CONF_UPPER), user_input[CONF_HYSTERESIS]
            )
            if problem := limits.problem():
                errors["base"] = problem
            reaction_errors, reaction_placeholders = _reaction_errors(user_input[CONF_REACTION])
            errors |= reaction_errors
            placeholders |= reaction_placeholders
            if not errors:
                title = await self._async_title(
                    *sensors[user_input[CONF_SENSOR]], user_input[CONF_STATISTIC]
                )
                if subentry is None:
                    return self.async_create_entry(title=title, data=user_input)
                return self.async_update_reload_and_abort(
                    entry, subentry, title=title, data=user_input
                )
        suggested = user_input or (_THRESHOLD_DEFAULTS if subentry is None else subentry.data)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(_threshold_schema(sensors), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_sensors(self, description: BridgeDescription) -> dict[str, tuple[str, str]]:
        """``<device id>/<sensor id>`` -> device name and sensor name, of every windowed sensor.

        Sensors are named as their statistics' names have them, in the user's language.
        """
        language = self.hass.config.language
        device_classes = await async_get_translations(
            self.hass, language, "entity_component", ["sensor"]
        )
        return {
            f"{device.id}/{sensor.id}": (
                device.name,
                sensor_subject(sensor, language, device_classes),
            )
            for device in description.devices
            for sensor in device.sensors
            if sensor.windowed
        }

    async def _async_title(self, device_name: str, subject: str, statistic: str) -> str:
        """``Fleet 1: Mean temperature``, the statistic's entity name after its device's."""
        names = await async_get_translations(
            self.hass, self.hass.config.language, "entity", [DOMAIN]
        )
        name = names[f"component.{DOMAIN}.entity.sensor.{statistic}.name"]
        return f"{device_name}: {name.format(sensor=subject)}"


def _threshold_schema(sensors: dict[str, tuple[str, str]]) -> probatio.Schema:
    """The form of a threshold, offering ``sensors`` (from ``_async_sensors``)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_SENSOR): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(
                            value=key, label=f"{device}: {subject[:1].upper()}{subject[1:]}"
                        )
                        for key, (device, subject) in sensors.items()
                    ],
                    sort=True,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            probatio.Required(CONF_STATISTIC): SelectSelector(
                SelectSelectorConfig(
                    options=list(ALL_STATISTICS),
                    translation_key=CONF_STATISTICS,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            probatio.Optional(CONF_LOWER): _NUMBER,
            probatio.Optional(CONF_UPPER): _NUMBER,
            probatio.Required(CONF_HYSTERESIS): _NON_NEGATIVE,
            probatio.Required(CONF_REACTION): section(_REACTION_SCHEMA, {"collapsed": True}),
        }
    )
