"""The command channel's commands and their arguments, written once (docs/mqtt.md).

The bridge parses every command with ``check_arguments`` before it decides anything, and the
integration checks an action's arguments with the same function before it sends, so Home
Assistant refuses exactly what the bridge would, without a round trip. What depends on the
bridge's configuration (which outputs, machines, slots and settings exist) is the bridge's
to check. ``CommandResult`` decodes the bridge's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import msgspec

from .readings import InvalidPayloadError

MAX_ID_LENGTH: Final = 64
"""Longest command ``id``; the sender chooses it and the result echoes it."""
MAX_COUNT: Final = 10**6
"""Most items one ``restock`` adds (the configuration's bound on stock)."""
MAX_AMOUNT: Final = 10**9
"""Highest price ``set_price`` takes (the configuration's ``Money`` bound)."""
_MAX_TEXT: Final = 64
"""Longest piece of client-supplied text (a key, a command name) quoted in a message."""


class ArgKind(StrEnum):
    """What an argument's JSON value must be."""

    TEXT = "text"
    """A string, such as an id."""
    SWITCH = "switch"
    """``true``, ``false``, ``"ON"`` or ``"OFF"``."""
    OBJECT = "object"
    """A JSON object."""
    INTEGER = "integer"
    """An integer from ``low`` to ``high`` (a boolean is not one)."""


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command."""

    name: str
    kind: ArgKind
    required: bool = True
    low: int = 0
    high: int = 0

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this argument's type (and range)."""
        if self.kind is ArgKind.TEXT:
            return isinstance(value, str)
        if self.kind is ArgKind.SWITCH:
            return isinstance(value, bool) or value in ("ON", "OFF")
        if self.kind is ArgKind.OBJECT:
            return isinstance(value, dict)
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    @property
    def expected(self) -> str:
        """What the value must be, in the bridge's words."""
        if self.kind is ArgKind.TEXT:
            return "expected a string"
        if self.kind is ArgKind.SWITCH:
            return 'expected true, false, "ON" or "OFF"'
        if self.kind is ArgKind.OBJECT:
            return "expected a JSON object"
        return f"expected an integer from {self.low} to {self.high}"


_MACHINE = Arg("machine", ArgKind.TEXT)
_SLOT = Arg("slot", ArgKind.TEXT)

COMMANDS: Final[Mapping[str, tuple[Arg, ...]]] = MappingProxyType(
    {
        "ping": (),
        "get_config": (),
        "set_config": (Arg("settings", ArgKind.OBJECT),),
        "set_output": (
            Arg("device", ArgKind.TEXT),
            Arg("output", ArgKind.TEXT),
            Arg("state", ArgKind.SWITCH),
        ),
        "fire": (
            _MACHINE,
            Arg("event", ArgKind.TEXT),
            Arg("data", ArgKind.OBJECT, required=False),
        ),
        "restock": (_MACHINE, _SLOT, Arg("count", ArgKind.INTEGER, low=1, high=MAX_COUNT)),
        "set_price": (_MACHINE, _SLOT, Arg("price", ArgKind.INTEGER, low=1, high=MAX_AMOUNT)),
        "set_state": (_MACHINE, Arg("state", ArgKind.TEXT)),
    }
)
"""Every command by name, with its arguments besides ``id`` and ``command``."""


class ProblemKind(StrEnum):
    """Why an argument is refused."""

    UNKNOWN = "unknown"
    MISSING = "missing"
    WRONG_TYPE = "wrong_type"


@dataclass(frozen=True, slots=True)
class ArgProblem:
    """One refused argument; ``arg`` is ``None`` for a key the command does not take."""

    key: str
    kind: ProblemKind
    arg: Arg | None = None

    @property
    def message(self) -> str:
        """The problem as the bridge's ``invalid`` result names it, by key."""
        if self.kind is ProblemKind.UNKNOWN:
            return f"{clip(self.key)}: unknown key"
        if self.kind is ProblemKind.MISSING or self.arg is None:
            return f"{self.key}: field required"
        return f"{self.key}: {self.arg.expected}"


def clip(text: str) -> str:
    """Client-supplied text for a message or a log line: escaped and clipped."""
    shown = repr(text[:_MAX_TEXT])[1:-1]
    return shown + "..." if len(text) > _MAX_TEXT else shown


def check_arguments(command: str, args: Mapping[str, Any]) -> list[ArgProblem]:
    """Problems with the arguments of ``command`` (a key of ``COMMANDS``): none if valid.

    Unknown keys first, in the order given, then each argument in the command's order.
    """
    known = COMMANDS[command]
    names = {arg.name for arg in known}
    problems = [ArgProblem(key, ProblemKind.UNKNOWN) for key in args if key not in names]
    for arg in known:
        if arg.name not in args:
            if arg.required:
                problems.append(ArgProblem(arg.name, ProblemKind.MISSING, arg))
        elif not arg.accepts(args[arg.name]):
            problems.append(ArgProblem(arg.name, ProblemKind.WRONG_TYPE, arg))
    return problems


class CommandError(msgspec.Struct, frozen=True):
    """Why a command was refused or failed: ``code`` as in docs/mqtt.md, and a message."""

    code: str
    message: str


class CommandResult(msgspec.Struct, frozen=True):
    """The bridge's answer to one command on ``<root>/<bridge>/command/result``."""

    id: str | None
    ok: bool
    result: Any = None
    error: CommandError | None = None


_RESULT_DECODER = msgspec.json.Decoder(CommandResult)


def decode_result(payload: bytes | bytearray | str) -> CommandResult:
    """Return the result in ``payload``; raise ``InvalidPayloadError`` if it is not one."""
    try:
        return _RESULT_DECODER.decode(payload)
    except msgspec.DecodeError as err:  # ValidationError is a DecodeError
        raise InvalidPayloadError(str(err)) from None
