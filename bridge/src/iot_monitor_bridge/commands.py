"""The JSON command channel: Home Assistant asks, the bridge answers every command exactly once.

``CommandHandler.handle(payload, now)`` is pure: it checks size, rate, JSON and arguments,
decides, and returns the result payload together with the *effects* the runtime applies
(drive an output, change a sampling interval, persist the settings). Nothing here touches
sockets, threads, files or hardware, so every path, hostile input included, is tested
directly. The protocol is documented in docs/mqtt.md ("Command channel").

The command names and their arguments (types, ranges, which are required) are the
contract's (``contract/commands.py``), which the integration checks actions with too.

Remote settings (``set_config``) are validated by the very structs that validate the
configuration file, so a value the file would refuse is refused here too, with the
same wording. They are kept as *overrides* of the file, persisted by the runtime, and
applied again over the file at the next start.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeAlias

import msgspec

from iot_monitor_bridge.config import (
    BridgeConfig,
    CommandsConfig,
    ConfigError,
    MachineConfig,
    validate,
)
from iot_monitor_bridge.contract.commands import (
    COMMANDS,
    MAX_ID_LENGTH,
    check_arguments,
    clip,
)
from iot_monitor_bridge.contract.faults import FaultLog
from iot_monitor_bridge.contract.readings import loads_strict

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 16 * 1024
"""Larger command payloads are answered ``too_large`` without being parsed."""
SETTINGS_META_KEY: Final = "commands.settings"
"""Spool meta key of the persisted overrides (JSON, shaped like ``set_config``'s settings)."""
_MAX_PROBLEMS: Final = 10

JsonObject: TypeAlias = dict[str, Any]
SettingPath: TypeAlias = tuple[str, ...]
"""Where a remote setting lives in ``set_config``'s settings, e.g. ``("health", "interval")``."""

HEALTH_INTERVAL: Final[SettingPath] = ("health", "interval")
COMMIT_INTERVAL: Final[SettingPath] = ("spool", "commit_interval")


def _sensor_interval(device_id: str, sensor_id: str) -> SettingPath:
    return ("devices", device_id, "sensors", sensor_id, "interval")


class ErrorCode(StrEnum):
    """``error.code`` of a refused or failed command; docs/mqtt.md says when each is used."""

    BAD_JSON = "bad_json"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID = "invalid"
    NOT_ALLOWED = "not_allowed"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    FAILED = "failed"


# ----- effects: what the runtime must do for a command ------------------------------------


@dataclass(frozen=True, slots=True)
class DriveOutput:
    """Switch a configured output on or off (``set_output``)."""

    device_id: str
    output_id: str
    on: bool


@dataclass(frozen=True, slots=True)
class SetSensorInterval:
    """A configured sensor's ``interval`` (``devices[].sensors[].interval`` in the file)."""

    device_id: str
    sensor_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class SetHealthInterval:
    """The health sensors' sampling interval (``health.interval``)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SetCommitInterval:
    """The spool's longest wait before a commit (``spool.commit_interval``)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class PersistSettings:
    """Store ``value`` under ``key`` (spool meta) so the overrides survive a restart."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class FireMachineEvent:
    """Fire ``event`` with ``data`` at a machine (``fire``, ``restock``, ``set_price``).

    The machine decides: the runtime answers with its new state or its refusal.
    """

    machine: str
    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SetMachineState:
    """Admin override of a machine's state (``set_state``), logged in its ledger."""

    machine: str
    state: str


Effect: TypeAlias = (
    DriveOutput
    | SetSensorInterval
    | SetHealthInterval
    | SetCommitInterval
    | PersistSettings
    | FireMachineEvent
    | SetMachineState
)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The answer to one payload: the result to publish and the effects to apply first."""

    command_id: str | None
    result_payload: bytes
    effects: tuple[Effect, ...] = ()


def result_payload(command_id: str | None, result: Any) -> bytes:
    """The result of a command that succeeded: ``ok`` true and the command's ``result``."""
    return _encode({"id": command_id, "ok": True, "result": result})


def error_payload(command_id: str | None, code: ErrorCode, message: str) -> bytes:
    """The result of a refused or failed command: ``ok`` false, an ``error`` code and message."""
    return _encode({"id": command_id, "ok": False, "error": {"code": code, "message": message}})


def _encode(message: JsonObject) -> bytes:
    # ASCII escapes keep lone surrogates from client-supplied text encodable.
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")


# ----- rate limiting ----------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; the clock is passed in.

    A clock that goes back refills nothing and is taken as the new reference.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        """Spend a token if one is saved up at ``now``; ``False`` means over the rate."""
        if self._last is not None and now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# ----- remote settings --------------------------------------------------------------------


def _quote(text: str) -> str:
    return f"'{clip(text)}'"


@dataclass(frozen=True, slots=True)
class _Setting:
    """One remotely settable value and the configuration struct that validates it."""

    section: msgspec.Struct
    """The file's struct holding the value (a sensor's config, ``health``, ``spool``)."""
    field: str

    @property
    def value(self) -> float:
        value: float = getattr(self.section, self.field)
        return value

    def validate(self, value: Any, path: SettingPath) -> float | list[str]:
        """The value as the file would take it, or the problems, named by ``settings.`` path."""
        data = {**msgspec.structs.asdict(self.section), self.field: value}
        try:
            valid = validate(data, type(self.section))
        except ConfigError as err:
            where = ".".join(("settings", *path[:-1]))
            problems = []
            for line in err.problems:
                key, _, message = line.partition(": ")
                problems.append(f"{where if key == '(top level)' else f'{where}.{key}'}: {message}")
            return problems
        validated: float = getattr(valid, self.field)
        return validated


def _settings_of(config: BridgeConfig) -> dict[SettingPath, _Setting]:
    """Every setting ``set_config`` may change, in a stable order."""
    settings = {
        HEALTH_INTERVAL: _Setting(config.health, "interval"),
        COMMIT_INTERVAL: _Setting(config.spool, "commit_interval"),
    }
    for device in config.devices:
        for sensor in device.sensors:
            if "interval" in sensor.__struct_fields__:
                settings[_sensor_interval(device.id, sensor.id)] = _Setting(sensor, "interval")
    return settings


def _with_settings(config: BridgeConfig, values: Mapping[SettingPath, float]) -> BridgeConfig:
    """``config`` with the given (already validated) settings replaced."""

    def updated(model: Any, path: SettingPath) -> Any:
        if path not in values:
            return model
        return msgspec.structs.replace(model, **{path[-1]: values[path]})

    devices = [
        msgspec.structs.replace(
            device,
            sensors=[
                updated(sensor, _sensor_interval(device.id, sensor.id)) for sensor in device.sensors
            ],
        )
        for device in config.devices
    ]
    return msgspec.structs.replace(
        config,
        health=updated(config.health, HEALTH_INTERVAL),
        spool=updated(config.spool, COMMIT_INTERVAL),
        devices=devices,
    )


def _nest(flat: Mapping[SettingPath, Any]) -> JsonObject:
    """``{("health", "interval"): 15}`` -> ``{"health": {"interval": 15}}``."""
    tree: JsonObject = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _leaves(
    node: Any, path: SettingPath, known: Mapping[SettingPath, _Setting]
) -> Iterator[tuple[SettingPath, Any] | str]:
    """Walk a settings object: ``(path, value)`` per settable value given, a string per problem."""
    if path in known:
        yield path, node
        return
    where = ".".join(("settings", *path))
    if not isinstance(node, dict):
        yield f"{where}: expected an object"
        return
    depth = len(path)
    children = list(dict.fromkeys(p[depth] for p in known if p[:depth] == path))
    for key, value in node.items():
        if key in children:
            yield from _leaves(value, (*path, key), known)
            continue
        expected = ", ".join(children[:_MAX_PROBLEMS])
        yield f"{where}.{clip(key)}: unknown key; expected one of: {expected}"


# ----- the handler ------------------------------------------------------------------------


class CommandHandler:
    """Answers command payloads; keeps the effective remote settings and the result counts.

    ``config`` is the file's configuration. Call ``restore`` once at start with the persisted
    overrides, and apply the effects it returns; then ``handle`` each payload.
    """

    def __init__(self, config: BridgeConfig, logger: logging.Logger = _LOGGER) -> None:
        self._file_config = config
        self._limits: CommandsConfig = config.commands
        self._bucket = TokenBucket(config.commands.rate, config.commands.burst)
        self._outputs = frozenset(
            (device.id, output.id) for device in config.devices for output in device.outputs
        )
        self._known = _settings_of(config)
        self._overrides: dict[SettingPath, float] = {}
        self.config = config
        """The effective configuration: the file with the remote settings applied."""
        self.counts: Counter[str] = Counter()
        """Results since start by outcome: ``ok``, ``error``, ``rate_limited``."""
        self._logger = logger
        self._faults = FaultLog(logger, "commands")
        self._commands: dict[str, Callable[[str, JsonObject], CommandOutcome]] = {
            "ping": self._ping,
            "get_config": self._get_config,
            "set_config": self._set_config,
            "set_output": self._set_output,
            "fire": self._fire,
            "restock": self._restock,
            "set_price": self._set_price,
            "set_state": self._set_state,
        }
        assert self._commands.keys() == COMMANDS.keys(), "one handler per contract command"
        self._machines = {machine.id: machine for machine in config.machines}

    @property
    def overrides(self) -> dict[SettingPath, float]:
        """The remote settings in force over the file's values, by path (a copy)."""
        return dict(self._overrides)

    # ----- entry points ---------------------------------------------------------------------

    def handle(self, payload: bytes, now: float) -> CommandOutcome:
        """One result for one payload, whatever it holds; ``now`` is a monotonic clock."""
        allowed = self._bucket.take(now)
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._error(
                None,
                ErrorCode.TOO_LARGE,
                f"payload of {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
            )
        try:
            message = loads_strict(payload)
        except json.JSONDecodeError as err:
            return self._error(None, ErrorCode.BAD_JSON, f"not JSON: {err.msg} at {err.pos}")
        except UnicodeDecodeError:
            return self._error(None, ErrorCode.BAD_JSON, "not JSON: not UTF-8 text")
        except RecursionError:
            return self._error(None, ErrorCode.BAD_JSON, "not JSON: nested too deeply")
        except ValueError as err:  # NaN, Infinity, an integer of thousands of digits
            return self._error(None, ErrorCode.BAD_JSON, f"not JSON: {clip(str(err))}")
        if not isinstance(message, dict):
            return self._error(None, ErrorCode.INVALID, "(top level): expected a JSON object")
        command_id = message.get("id")
        if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_ID_LENGTH:
            return self._error(
                None, ErrorCode.INVALID, f"id: expected a string of 1 to {MAX_ID_LENGTH} characters"
            )
        if not allowed:
            rate = self._limits.rate
            return self._error(
                command_id,
                ErrorCode.RATE_LIMITED,
                f"more than {rate:g} commands/s (burst {self._limits.burst}); try again later",
            )
        name = message.get("command")
        if not isinstance(name, str):
            problem = "expected a string" if "command" in message else "field required"
            return self._error(command_id, ErrorCode.INVALID, f"command: {problem}")
        if name not in COMMANDS:
            known = ", ".join(COMMANDS)
            return self._error(
                command_id,
                ErrorCode.UNKNOWN_COMMAND,
                f"unknown command {_quote(name)}; known: {known}",
            )
        args = {key: value for key, value in message.items() if key not in ("id", "command")}
        problems = check_arguments(name, args)
        if problems:
            return self._invalid(command_id, [problem.message for problem in problems])
        try:
            return self._commands[name](command_id, args)
        except Exception as err:  # the channel answers whatever happens
            self._logger.exception("command %s %s failed", name, _quote(command_id))
            return self._error(
                command_id, ErrorCode.FAILED, f"internal error: {type(err).__name__}"
            )

    def failed(self, outcome: CommandOutcome, reason: str) -> bytes:
        """The result to publish instead of ``outcome``'s when applying its effects failed."""
        self.counts["ok"] -= 1
        return self._error(outcome.command_id, ErrorCode.FAILED, reason).result_payload

    def answered(self, outcome: CommandOutcome, result: Any) -> bytes:
        """The result to publish for a command whose result the runtime made (a machine's)."""
        return result_payload(outcome.command_id, result)

    def refused(self, outcome: CommandOutcome, code: str, message: str) -> bytes:
        """The result to publish when the runtime refused ``outcome`` (a machine said no).

        ``code`` is the machine's refusal code (``not_allowed``, ``guard_failed``,
        ``out_of_stock``, ...; docs/machines.md).
        """
        self.counts["ok"] -= 1
        self.counts["error"] += 1
        self._faults.fault(code, message)
        return _encode(
            {"id": outcome.command_id, "ok": False, "error": {"code": code, "message": message}}
        )

    def restore(self, stored: str | None) -> tuple[Effect, ...]:
        """Apply persisted overrides over the file; the effects bring the drivers in line.

        Overrides the current file no longer allows (a sensor removed, a bound tightened)
        are dropped with a warning, and the cleaned set is persisted again.
        """
        if not stored:
            return ()
        try:
            data = json.loads(stored)
        except ValueError:
            data = "not JSON"
        values, problems = self._validated({}, data)
        for problem in problems:
            self._logger.warning("stored remote setting ignored: %s", problem)
        _, effects = self._apply(values, persist=bool(problems))
        return effects

    # ----- commands -------------------------------------------------------------------------

    # Each gets arguments the contract's ``check_arguments`` accepted.

    def _ping(self, command_id: str, _args: JsonObject) -> CommandOutcome:
        return self._ok(command_id, {"pong": True, "bridge": self._file_config.bridge.id})

    def _get_config(self, command_id: str, _args: JsonObject) -> CommandOutcome:
        return self._ok(command_id, self._settings_result())

    def _set_config(self, command_id: str, args: JsonObject) -> CommandOutcome:
        values, problems = self._validated(self._overrides, args["settings"])
        if problems:
            return self._invalid(command_id, problems)
        changed_paths, effects = self._apply(values, persist=values != self._overrides)
        changed = [".".join(path) for path in changed_paths]
        if changed:
            self._logger.info("command %s changed %s", _quote(command_id), ", ".join(changed))
        return self._ok(command_id, {**self._settings_result(), "changed": changed}, effects)

    def _set_output(self, command_id: str, args: JsonObject) -> CommandOutcome:
        device, output, state = args["device"], args["output"], args["state"]
        if (device, output) not in self._outputs:
            return self._error(
                command_id,
                ErrorCode.NOT_ALLOWED,
                f"no output {_quote(output)} on device {_quote(device)} in the configuration",
            )
        on = state if isinstance(state, bool) else state == "ON"
        effect = DriveOutput(device, output, on)
        return self._ok(command_id, {"device": device, "output": output, "state": on}, (effect,))

    def _machine(self, command_id: str, args: JsonObject) -> MachineConfig | CommandOutcome:
        """The machine ``args`` names, or the error to answer (no such machine)."""
        machine = self._machines.get(args["machine"])
        if machine is None:
            known = ", ".join(self._machines) or "none"
            problem = f"machine: unknown machine {_quote(args['machine'])}; machines: {known}"
            return self._invalid(command_id, [problem])
        return machine

    def _fire(self, command_id: str, args: JsonObject) -> CommandOutcome:
        machine = self._machine(command_id, args)
        if isinstance(machine, CommandOutcome):
            return machine
        event, data = args["event"], args.get("data", {})
        if event not in machine.commands:
            allowed = ", ".join(machine.commands) or "none"
            return self._error(
                command_id,
                ErrorCode.NOT_ALLOWED,
                f"machine {_quote(machine.id)} does not take {_quote(event)} from commands; "
                f"its commands: {allowed}",
            )
        return self._ok(command_id, None, (FireMachineEvent(machine.id, event, data),))

    def _slot_command(
        self, command_id: str, args: JsonObject, event: str, key: str
    ) -> CommandOutcome:
        machine = self._machine(command_id, args)
        if isinstance(machine, CommandOutcome):
            return machine
        if machine.vending is None:
            return self._invalid(
                command_id, [f"machine: {_quote(machine.id)} is not a vending machine"]
            )
        slots = [product.slot for product in machine.vending.products]
        if args["slot"] not in slots:
            problem = f"slot: unknown slot {_quote(args['slot'])}; slots: {', '.join(slots)}"
            return self._invalid(command_id, [problem])
        data = {"slot": args["slot"], key: args[key]}
        return self._ok(command_id, None, (FireMachineEvent(machine.id, event, data),))

    def _restock(self, command_id: str, args: JsonObject) -> CommandOutcome:
        return self._slot_command(command_id, args, "restock", "count")

    def _set_price(self, command_id: str, args: JsonObject) -> CommandOutcome:
        return self._slot_command(command_id, args, "set_price", "price")

    def _set_state(self, command_id: str, args: JsonObject) -> CommandOutcome:
        machine = self._machine(command_id, args)
        if isinstance(machine, CommandOutcome):
            return machine
        if args["state"] not in machine.states:
            states = ", ".join(machine.states)
            return self._invalid(
                command_id, [f"state: unknown state {_quote(args['state'])}; states: {states}"]
            )
        return self._ok(command_id, None, (SetMachineState(machine.id, args["state"]),))

    # ----- helpers --------------------------------------------------------------------------

    def _effective(self) -> dict[SettingPath, float]:
        return {path: setting.value for path, setting in _settings_of(self.config).items()}

    def _validated(
        self, overrides: Mapping[SettingPath, float], settings: Any
    ) -> tuple[dict[SettingPath, float], list[str]]:
        """``overrides`` updated by a settings object (``null`` resets a value to the file's)."""
        values = dict(overrides)
        problems: list[str] = []
        for item in _leaves(settings, (), self._known):
            if isinstance(item, str):
                problems.append(item)
                continue
            path, value = item
            if value is None:
                values.pop(path, None)
                continue
            checked = self._known[path].validate(value, path)
            if isinstance(checked, list):
                problems.extend(checked)
            else:
                values[path] = checked
        return values, problems

    def _apply(
        self, values: dict[SettingPath, float], *, persist: bool
    ) -> tuple[list[SettingPath], tuple[Effect, ...]]:
        """Make ``values`` the overrides: the settings whose value changed, and the effects."""
        before = self._effective()
        self._overrides = values
        self.config = _with_settings(self._file_config, values)
        changed = {
            path: seconds for path, seconds in self._effective().items() if seconds != before[path]
        }
        effects: list[Effect] = [_setting_effect(path, value) for path, value in changed.items()]
        if persist:
            text = json.dumps(_nest(values), separators=(",", ":"), sort_keys=True)
            effects.append(PersistSettings(SETTINGS_META_KEY, text))
        return list(changed), tuple(effects)

    def _settings_result(self) -> JsonObject:
        return {"settings": _nest(self._effective()), "overrides": _nest(self._overrides)}

    def _ok(self, command_id: str, result: Any, effects: tuple[Effect, ...] = ()) -> CommandOutcome:
        self.counts["ok"] += 1
        return CommandOutcome(command_id, result_payload(command_id, result), effects)

    def _invalid(self, command_id: str, problems: list[str]) -> CommandOutcome:
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        message = "; ".join(shown) + (f"; and {more} more" if more else "")
        return self._error(command_id, ErrorCode.INVALID, message)

    def _error(self, command_id: str | None, code: ErrorCode, message: str) -> CommandOutcome:
        self.counts["rate_limited" if code is ErrorCode.RATE_LIMITED else "error"] += 1
        self._faults.fault(code.value, message)
        return CommandOutcome(command_id, error_payload(command_id, code, message))


def _setting_effect(path: SettingPath, seconds: float) -> Effect:
    if path == HEALTH_INTERVAL:
        return SetHealthInterval(seconds)
    if path == COMMIT_INTERVAL:
        return SetCommitInterval(seconds)
    return SetSensorInterval(path[1], path[3], seconds)
