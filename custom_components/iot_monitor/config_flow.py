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
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .const import (
    ALL_STATISTICS,
    CONF_BRIDGE_ID,
    CONF_HOST,
    CONF_LATENESS,
    CONF_STATISTICS,
    CONF_THROTTLE,
    CONF_TOPIC_ROOT,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DEFAULT_OPTIONS,
    DOMAIN,
    LOGGER,
    SUBSCRIBE_QOS,
    WINDOW_SLIDING,
    WINDOW_TUMBLING,
)
from .contract.description import (
    BridgeDescription,
    ContractMismatchError,
    InvalidDescriptionError,
    decode_description,
)
from .contract.ids import BRIDGE_ID_PATTERN, TOPIC_ROOT_PATTERN
from .contract.topics import DEFAULT_TOPIC_ROOT, DESCRIPTION_SUBSCRIPTION, Topics

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
