"""Actions that drive a bridge through its command channel (docs/integration.md, "Actions").

``send_command`` sends any command of the channel; the typed actions send the common ones
with selectors in the UI. Arguments are checked with the contract's own command list
(``contract/commands.py``, the one the bridge parses with) before anything is sent; then the
command goes out on ``<root>/<bridge>/command`` with a fresh id and the action waits for the
result with that id on ``.../command/result``, which each bridge's ``CommandChannel`` keeps
subscribed while its entry is loaded, so a round trip costs no subscription.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

import probatio
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, ATTR_DEVICE_ID
from homeassistant.core import (
    CALLBACK_TYPE,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.typing import VolDictType
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.ulid import ulid_now

from .const import DOMAIN, LOGGER, SUBSCRIBE_QOS
from .contract.commands import (
    COMMANDS,
    ArgKind,
    ArgProblem,
    CommandError,
    CommandResult,
    ProblemKind,
    check_arguments,
    decode_result,
)
from .contract.ids import bridge_of_identifier
from .contract.readings import InvalidPayloadError
from .coordinator import MQTT_DOMAIN, BridgeCoordinator, IotMonitorConfigEntry

RESULT_TIMEOUT_S: Final = 10.0
"""How long an action waits for the bridge's result before it fails."""
COMMAND_QOS: Final = 0
"""Commands are sent at most once: the bridge's result is their acknowledgement, and a QoS 1
redelivery could carry out a ``restock`` twice. It also spares the PUBACK that Nagle's
algorithm holds the next packet behind (docs/performance.md, "Action round trip")."""

SERVICE_SEND_COMMAND: Final = "send_command"
SERVICE_FIRE_EVENT: Final = "fire_event"
SERVICE_SET_OUTPUT: Final = "set_output"
SERVICE_SET_CONFIG: Final = "set_config"
SERVICE_RESTOCK: Final = "restock"
SERVICE_SET_PRICE: Final = "set_price"

ATTR_COMMAND: Final = "command"
ATTR_ARGUMENTS: Final = "arguments"
ATTR_DURATION: Final = "duration"

DATA_CHANNELS: HassKey[dict[str, CommandChannel]] = HassKey(f"{DOMAIN}_command_channels")
"""The command channel of each loaded entry, by entry id."""

_REFUSALS: Final = frozenset({"invalid", "unknown_command", "not_allowed"})
"""Result codes that blame the action's input, not the bridge: a ServiceValidationError."""
_WRONG_TYPE_KEYS: Final = {
    ArgKind.TEXT: "argument_not_text",
    ArgKind.SWITCH: "argument_not_switch",
    ArgKind.OBJECT: "argument_not_object",
    ArgKind.INTEGER: "argument_out_of_range",
}

_TARGET: Final[VolDictType] = {
    probatio.Optional(ATTR_DEVICE_ID): cv.string,
    probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
}
_MACHINE: Final[VolDictType] = {probatio.Required("machine"): cv.string}
_SLOT: Final[VolDictType] = {probatio.Required("slot"): cv.string}

SCHEMAS: Final[dict[str, probatio.Schema]] = {
    SERVICE_SEND_COMMAND: probatio.Schema(
        {
            **_TARGET,
            probatio.Required(ATTR_COMMAND): cv.string,
            probatio.Optional(ATTR_ARGUMENTS): dict,
        }
    ),
    SERVICE_FIRE_EVENT: probatio.Schema(
        {
            **_TARGET,
            **_MACHINE,
            probatio.Required("event"): cv.string,
            probatio.Optional("data"): dict,
        }
    ),
    SERVICE_SET_OUTPUT: probatio.Schema(
        {
            **_TARGET,
            probatio.Required("device"): cv.string,
            probatio.Required("output"): cv.string,
            probatio.Required("state"): cv.boolean,
            probatio.Optional(ATTR_DURATION): cv.positive_time_period,
        }
    ),
    SERVICE_SET_CONFIG: probatio.Schema({**_TARGET, probatio.Required("settings"): dict}),
    SERVICE_RESTOCK: probatio.Schema(
        {**_TARGET, **_MACHINE, **_SLOT, probatio.Required("count"): int}
    ),
    SERVICE_SET_PRICE: probatio.Schema(
        {**_TARGET, **_MACHINE, **_SLOT, probatio.Required("price"): int}
    ),
}
"""Each action's fields; the typed actions' fields are their command's arguments."""

_TYPED_COMMANDS: Final = {
    SERVICE_FIRE_EVENT: "fire",
    SERVICE_SET_CONFIG: "set_config",
    SERVICE_RESTOCK: "restock",
    SERVICE_SET_PRICE: "set_price",
}


class CommandChannel:
    """Requests and results on one bridge's command channel, while its entry is loaded."""

    def __init__(self, hass: HomeAssistant, coordinator: BridgeCoordinator) -> None:
        """Subscribe in ``async_start``."""
        self.hass = hass
        self.coordinator = coordinator
        self._subscribed = asyncio.Event()
        self._pending: dict[str, asyncio.Future[CommandResult]] = {}
        self._reverts: dict[tuple[str, str], CALLBACK_TYPE] = {}
        """Pending ``set_output`` reversals after a ``duration``, by (device, output)."""
        self._unsubscribers: list[CALLBACK_TYPE] = []

    @property
    def name(self) -> str:
        """The bridge's name, as its entry is titled."""
        return self.coordinator.entry.title

    async def async_start(self) -> None:
        """Subscribe to the results; note the broker's acknowledgement of the subscription."""
        topic = self.coordinator.topics.command_result
        self._unsubscribers += [
            await mqtt.async_subscribe(
                self.hass, topic, self._async_result_received, SUBSCRIBE_QOS
            ),
            mqtt.async_on_subscribe_done(self.hass, topic, SUBSCRIBE_QOS, self._subscribed.set),
            self.coordinator.listeners.add(self._async_availability_changed),
        ]

    @callback
    def async_stop(self) -> None:
        """Unsubscribe; cancel reversals still due; fail the actions still waiting."""
        while self._unsubscribers:
            self._unsubscribers.pop()()
        while self._reverts:
            self._reverts.popitem()[1]()
        self._async_fail_pending("bridge_not_loaded")

    @callback
    def _async_result_received(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            result = decode_result(msg.payload)
        except InvalidPayloadError as err:
            self.coordinator.faults.fault("invalid_command_result", str(err)[:160])
            return
        future = self._pending.get(result.id or "")
        if future is not None and not future.done():
            future.set_result(result)

    @callback
    def _async_availability_changed(self) -> None:
        if self.coordinator.online is False:
            self._async_fail_pending("bridge_offline")

    @callback
    def _async_fail_pending(self, translation_key: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._error(translation_key))

    def _error(self, translation_key: str, **placeholders: str) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders={"name": self.name, **placeholders},
        )

    async def async_send(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send a checked command and return the bridge's ``result``; raise if it refuses.

        A bridge known to be offline fails at once; one that says nothing within
        ``RESULT_TIMEOUT_S`` fails then.
        """
        if not self.coordinator.mqtt_connected:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="mqtt_not_available"
            )
        if self.coordinator.online is False:
            raise self._error("bridge_offline")
        request_id = ulid_now()
        future: asyncio.Future[CommandResult] = self.hass.loop.create_future()
        self._pending[request_id] = future
        payload = json.dumps({"id": request_id, "command": command, **args})
        try:
            async with asyncio.timeout(RESULT_TIMEOUT_S):
                await self._subscribed.wait()
                await mqtt.async_publish(
                    self.hass, self.coordinator.topics.command, payload, qos=COMMAND_QOS
                )
                result = await future
        except TimeoutError:
            raise self._error(
                "command_timeout", command=command, seconds=f"{RESULT_TIMEOUT_S:g}"
            ) from None
        finally:
            del self._pending[request_id]
        if not result.ok:
            error = result.error or CommandError("failed", "no reason given")
            placeholders = {"command": command, "code": error.code, "message": error.message}
            if error.code in _REFUSALS:
                raise _validation_error("command_refused", name=self.name, **placeholders)
            raise self._error("command_failed", **placeholders)
        return dict(result.result or {})

    async def async_set_output(
        self, device: str, output: str, state: bool, duration: timedelta | None
    ) -> dict[str, Any]:
        """Drive an output; with ``duration``, drive it back to the other state after it.

        The reversal is Home Assistant's (the bridge has no timer of its own for it): it is
        cancelled by a newer ``set_output`` of the same output or by unloading the entry.
        """
        key = (device, output)
        if (cancel := self._reverts.pop(key, None)) is not None:
            cancel()
        result = await self.async_send(
            "set_output", {"device": device, "output": output, "state": state}
        )
        if duration is not None:
            self._reverts[key] = async_call_later(
                self.hass, duration, partial(self._async_revert, key, not state)
            )
        return result

    @callback
    def _async_revert(self, key: tuple[str, str], state: bool, _now: datetime) -> None:
        del self._reverts[key]
        self.coordinator.entry.async_create_background_task(
            self.hass, self._async_send_revert(key, state), f"{DOMAIN} set_output revert"
        )

    async def _async_send_revert(self, key: tuple[str, str], state: bool) -> None:
        device, output = key
        try:
            await self.async_send(
                "set_output", {"device": device, "output": output, "state": state}
            )
        except HomeAssistantError as err:
            LOGGER.warning(
                "Bridge %s: could not set %s/%s back after its duration: %s",
                self.name,
                device,
                output,
                err,
            )


def _validation_error(translation_key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )


@callback
def _entry_of(hass: HomeAssistant, call: ServiceCall) -> IotMonitorConfigEntry:
    """The loaded entry of the bridge the call targets (a device of it, or its entry)."""
    device_id: str | None = call.data.get(ATTR_DEVICE_ID)
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if entry_id is not None and device_id is None:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise _validation_error("entry_not_found", entry_id=entry_id)
    elif device_id is not None and entry_id is None:
        entry = _entry_of_device(hass, device_id)
    else:
        raise _validation_error("target_required")
    if entry.state is not ConfigEntryState.LOADED:
        raise _validation_error("bridge_not_loaded", name=entry.title)
    return entry


@callback
def _entry_of_device(hass: HomeAssistant, device_id: str) -> IotMonitorConfigEntry:
    """The entry of the bridge a device belongs to: the bridge's own or one behind it.

    The bridge's devices are the MQTT integration's; their identifiers name the bridge.
    """
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise _validation_error("device_not_found", device_id=device_id)
    bridge_ids = {
        bridge_id
        for domain, identifier in device.identifiers
        if domain == MQTT_DOMAIN and (bridge_id := bridge_of_identifier(identifier))
    }
    if len(bridge_ids) != 1:
        name = device.name_by_user or device.name or device_id
        raise _validation_error("not_a_bridge_device", device=name)
    bridge_id = bridge_ids.pop()
    entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, bridge_id)
    if entry is None:
        raise _validation_error("bridge_not_configured", bridge_id=bridge_id)
    return entry


def _check(command: str, args: dict[str, Any]) -> None:
    """Refuse, before sending, what the bridge would refuse whatever its configuration."""
    if command not in COMMANDS:
        raise _validation_error("unknown_command", command=command, commands=", ".join(COMMANDS))
    problems = check_arguments(command, args)
    if problems:
        raise _problem_error(command, problems[0])


def _problem_error(command: str, problem: ArgProblem) -> ServiceValidationError:
    placeholders = {"command": command, "argument": problem.key}
    if problem.kind is ProblemKind.UNKNOWN:
        arguments = ", ".join(arg.name for arg in COMMANDS[command]) or "-"
        return _validation_error("unknown_argument", **placeholders, arguments=arguments)
    if problem.kind is ProblemKind.MISSING or problem.arg is None:
        return _validation_error("missing_argument", **placeholders)
    if problem.arg.kind is ArgKind.INTEGER:
        placeholders |= {"low": str(problem.arg.low), "high": str(problem.arg.high)}
    return _validation_error(_WRONG_TYPE_KEYS[problem.arg.kind], **placeholders)


async def _async_handle(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Check the call, send its command, and return the result if the caller asked."""
    data = {
        key: value
        for key, value in call.data.items()
        if key not in (ATTR_DEVICE_ID, ATTR_CONFIG_ENTRY_ID)
    }
    if call.service == SERVICE_SEND_COMMAND:
        command, args = data[ATTR_COMMAND], dict(data.get(ATTR_ARGUMENTS, {}))
    elif call.service == SERVICE_SET_OUTPUT:
        command, args = "set_output", {k: v for k, v in data.items() if k != ATTR_DURATION}
    else:
        command, args = _TYPED_COMMANDS[call.service], data
    _check(command, args)
    channel = hass.data[DATA_CHANNELS][_entry_of(hass, call).entry_id]
    if call.service == SERVICE_SET_OUTPUT:
        result = await channel.async_set_output(
            args["device"], args["output"], args["state"], data.get(ATTR_DURATION)
        )
    else:
        result = await channel.async_send(command, args)
    return result if call.return_response else None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (from ``async_setup``: they exist while no bridge is loaded)."""
    hass.data[DATA_CHANNELS] = {}
    for service, schema in SCHEMAS.items():
        hass.services.async_register(
            DOMAIN,
            service,
            partial(_async_handle, hass),
            schema=schema,
            supports_response=SupportsResponse.OPTIONAL,
        )


async def async_start_channel(hass: HomeAssistant, entry: IotMonitorConfigEntry) -> None:
    """Open the command channel of a bridge whose entry is being set up."""
    channel = CommandChannel(hass, entry.runtime_data)
    channels = hass.data[DATA_CHANNELS]
    channels[entry.entry_id] = channel

    @callback
    def stop() -> None:
        channels.pop(entry.entry_id, None)
        channel.async_stop()

    entry.async_on_unload(stop)
    await channel.async_start()
