"""The bridge's YAML configuration: schema, defaults and validation.

Validation is pure: ``parse_config`` takes the text of the file and either returns a
``BridgeConfig`` or raises ``ConfigError`` whose ``problems`` are one line per problem,
each naming the key path (``devices[1].sensors[0].pin: field required``).

The schema is made of msgspec structs: typed, frozen, and light enough for a small Pi
(msgspec, PyYAML and this schema take about 4 MB of memory where pydantic took 14; see
docs/performance.md).
"""

from __future__ import annotations

import math
import re
import socket
import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Final,
    Literal,
    NamedTuple,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

import msgspec
import yaml

from iot_monitor_bridge.contract.ids import (
    BRIDGE_DEVICE_ID,
    BRIDGE_ID_PATTERN,
    DISCOVERY_PREFIX_PATTERN,
    ID_PATTERN,
    TOPIC_ROOT_PATTERN,
)
from iot_monitor_bridge.contract.topics import DEFAULT_DISCOVERY_PREFIX, DEFAULT_TOPIC_ROOT

DEFAULT_CONFIG_PATH = Path("/etc/iot-monitor/bridge.yaml")
DEFAULT_STATE_DIR = Path("/var/lib/iot-monitor")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_DURATION_HINT: Final = "expected a duration such as 500ms, 10s, 1m or a number of seconds"
MIN_SECONDS: Final = 0.001
"""The shortest duration, 1 ms (the finest unit): a shorter period would be a busy loop."""
MAX_SECONDS: Final = 365 * 24 * 3600
"""The longest duration, a year: longer ones overflow what they are used with (SQLite's
64-bit times in milliseconds, thread timeouts) and mean "never" anyway."""
_DURATION_RANGE: Final = "expected a duration from 1ms to 8760h (a year)"
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
"""Integers in the file fit in 64 bits (SQLite's, C's); a larger one is a mistake."""

_T = TypeVar("_T")


class ConfigError(Exception):
    """The configuration is not valid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Seconds(float):
    """A positive, finite duration: ``10s``, ``500ms``, ``1m``, ``2h`` or a number of seconds."""

    __slots__ = ()


def _seconds(value: Any) -> Seconds:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(_DURATION_HINT)
        number = match.group(1)
        value = float(number) * _UNIT_SECONDS[match.group(2)]  # too many digits: inf
        if value == 0 and number.strip("0."):  # so many zeros after the point that it is 0.0
            raise ValueError(_DURATION_RANGE)
    if isinstance(value, bool) or not isinstance(value, int | float):  # YAML true is not 1 s
        raise TypeError(_DURATION_HINT)
    # Compared as they are: an int of hundreds of digits has no float (OverflowError).
    if not value > 0:  # also -0.0 and NaN
        raise ValueError("expected a duration greater than 0")
    if not MIN_SECONDS <= value <= MAX_SECONDS:  # also infinity
        raise ValueError(_DURATION_RANGE)
    return Seconds(value)


class Period(float):
    """A duration that may be off: ``0``, ``off`` or ``false``, or a duration as ``Seconds``."""

    __slots__ = ()


def _period(value: Any) -> Period:
    if value is False or value == "off":  # YAML 1.1 reads a bare ``off`` as false
        return Period(0)
    if isinstance(value, str) and (match := _DURATION.match(value)) is not None:
        if not match.group(1).strip("0."):  # ``0s``, ``0ms``: off, as a bare 0 is
            return Period(0)
    elif isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return Period(0)
    return Period(_seconds(value))


class SyncLevel(str):
    """SQLite's ``PRAGMA synchronous`` for the spool: ``off``, ``normal`` or ``full``."""

    __slots__ = ()
    LEVELS: Final = ("off", "normal", "full")


def _sync_level(value: Any) -> SyncLevel:
    if value is False:  # YAML 1.1 reads a bare ``off`` as false
        value = "off"
    if value not in SyncLevel.LEVELS:
        raise ValueError(f"expected one of: {', '.join(SyncLevel.LEVELS)}")
    return SyncLevel(value)


def _path(value: Any) -> Path:
    if not isinstance(value, str | Path):
        raise TypeError("expected a path")
    return Path(value)


def _decode(kind: type, value: Any) -> Any:
    """Decode the types msgspec does not know itself (its ``dec_hook``)."""
    if kind is Seconds:
        return _seconds(value)
    if kind is Path:
        return _path(value)
    if kind is SyncLevel:
        return _sync_level(value)
    if kind is Period:
        return _period(value)
    raise NotImplementedError(kind)  # pragma: no cover - every custom type is handled above


Identifier = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
GpioPin = Annotated[int, msgspec.Meta(ge=0, le=27)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A mapping in the file: unknown keys are refused, the value is immutable."""


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:64] or "iot-monitor"


def _unique(ids: Iterable[str], problem: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{problem} '{item}'")
        seen.add(item)


class BridgeSection(_Section, frozen=True, kw_only=True):
    """``bridge``: the id in every topic (default: the hostname) and the name people see."""

    id: Annotated[str, msgspec.Meta(pattern=BRIDGE_ID_PATTERN)] = msgspec.field(
        default_factory=lambda: _slug(socket.gethostname())
    )
    name: str | None = None

    @property
    def display_name(self) -> str:
        """The name shown in Home Assistant and in the zeroconf announcement."""
        return self.name or self.id


class BrokerConfig(_Section, frozen=True, kw_only=True):
    """One entry of ``mqtt.brokers``; the list's order is the failover order."""

    host: NonEmpty
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883


class TlsConfig(_Section, frozen=True, kw_only=True):
    """``mqtt.tls``: certificates for TLS connections to every broker."""

    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False
    """Skip hostname checking (never the certificate chain). Only for test brokers."""


class MqttConfig(_Section, frozen=True, kw_only=True):
    """``mqtt``: brokers in failover order, credentials, topics and timings."""

    brokers: Annotated[list[BrokerConfig], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [BrokerConfig(host="127.0.0.1")]
    )
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    topic_root: Annotated[str, msgspec.Meta(pattern=TOPIC_ROOT_PATTERN)] = DEFAULT_TOPIC_ROOT
    discovery_prefix: Annotated[str, msgspec.Meta(pattern=DISCOVERY_PREFIX_PATTERN)] = (
        DEFAULT_DISCOVERY_PREFIX
    )
    protocol: Literal["3.1.1", "5", 5] = "3.1.1"
    """MQTT protocol version; ``5`` honours the broker's Receive Maximum. YAML reads a bare
    ``5`` as a number, so both spellings are taken."""
    keepalive: Seconds = Seconds(30)
    failover_after: Seconds = Seconds(5)
    """How long the connected broker may be unreachable before moving to the next one."""
    primary_probe_interval: Seconds = Seconds(30)
    """How often to check whether a higher-priority broker is back, to fail back to it."""

    @property
    def mqtt5(self) -> bool:
        """Whether to speak MQTT 5 (``protocol`` may be ``"5"`` or ``5``)."""
        return self.protocol in ("5", 5)

    def __repr__(self) -> str:
        """Like every struct's, without the password (configs end up in logs)."""
        shown = (
            f"{name}={'***' if name == 'password' and self.password else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"{type(self).__name__}({', '.join(shown)})"


KioskToken = Annotated[str, msgspec.Meta(min_length=16, pattern=r"^[A-Za-z0-9_-]+$")]
"""At least 16 characters that need no escaping in a URL."""


class HttpConfig(_Section, frozen=True, kw_only=True):
    """``http``: ``/health``, ``/metrics`` and the kiosk page (``port: 0`` picks a free port)."""

    enabled: bool = True
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8765
    bind: str = "0.0.0.0"
    kiosk_token: KioskToken | None = None
    """Lets a kiosk page on another host press buttons (``?token=``); by default one is
    generated into ``<state_dir>/kiosk_token`` (docs/kiosk.md)."""


class ZeroconfConfig(_Section, frozen=True, kw_only=True):
    """``zeroconf``: announce ``_iot-monitor._tcp`` so Home Assistant finds the bridge."""

    enabled: bool = True


class HealthConfig(_Section, frozen=True, kw_only=True):
    """``health``: the machine's own sensors (CPU, memory, disk, temperature, uptime)."""

    enabled: bool = True
    interval: Seconds = Seconds(15)
    disk_path: Path = Path("/")


class SpoolConfig(_Section, frozen=True, kw_only=True):
    """``spool``: the SQLite queue of readings no broker has acknowledged (docs/spool.md)."""

    path: Path | None = None
    """Defaults to ``<state_dir>/spool.db``."""
    commit_interval: Seconds = Seconds(1)
    commit_every: Annotated[int, msgspec.Meta(ge=1)] = 200
    synchronous: SyncLevel = SyncLevel("normal")
    max_readings: Annotated[int, msgspec.Meta(ge=100)] = 1_000_000
    max_age: Seconds = Seconds(7 * 24 * 3600)


class CommandsConfig(_Section, frozen=True, kw_only=True):
    """The JSON command channel (docs/mqtt.md): a token bucket bounds how fast it is served."""

    rate: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 10.0
    """Commands per second, sustained."""
    burst: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    """Commands accepted at once after a quiet period."""


class FieldConfig(_Section, frozen=True, kw_only=True):
    """One value carried by a text serial protocol (JSON lines, key=value)."""

    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    scale: float = 1.0
    offset: float = 0.0


class _Named(_Section, frozen=True, kw_only=True):
    """A device, sensor or output: an id, and a name that defaults to one made of the id."""

    id: Identifier
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()


class StateConfig(_Section, frozen=True, kw_only=True):
    """How calmly a sensor's state topic follows its readings (the stream carries them all).

    Left out, ``throttle`` is 10 s for numbers and locations and off for everything else;
    ``delta`` and ``heartbeat`` are off. See docs/mqtt.md, "State topics".
    """

    throttle: Period | None = None
    """At most one state per period; the newest value is published at the period's end."""
    delta: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """A number that moved less than this from the last published one is not published."""
    heartbeat: Period = Period(0)
    """Publish the newest value again after this long without a state."""


class _SensorBase(_Named, frozen=True, kw_only=True, tag_field="type"):
    """A sensor of a device; its ``type`` key picks the subclass."""

    state: StateConfig = msgspec.field(default_factory=StateConfig)


class GpioInputConfig(_SensorBase, frozen=True, kw_only=True, tag="gpio_input"):
    """``type: gpio_input``: a contact, button or PIR on one pin, as a binary sensor."""

    pin: GpioPin
    device_class: str | None = None
    """Home Assistant binary_sensor device class: door, window, motion, occupancy, ..."""
    pull_up: bool | None = True
    active_high: bool | None = None
    """Only with ``pull_up: null`` (floating input with an external resistor)."""
    bounce_time: Seconds = Seconds(0.05)
    invert: bool = False

    def __post_init__(self) -> None:
        if (self.pull_up is None) != (self.active_high is not None):
            raise ValueError("active_high: required with pull_up: null, and only then")


class Mcp3008Config(_SensorBase, frozen=True, kw_only=True, tag="mcp3008"):
    """``type: mcp3008``: one channel of an MCP3008 ADC on SPI, scaled linearly."""

    channel: Annotated[int, msgspec.Meta(ge=0, le=7)]
    spi_port: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0
    spi_device: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0
    min_value: float = 0.0
    """Value reported at 0 V."""
    max_value: float = 1.0
    """Value reported at the reference voltage."""
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    precision: Annotated[int, msgspec.Meta(ge=0, le=6)] | None = None
    interval: Seconds = Seconds(5)


class Hcsr04Config(_SensorBase, frozen=True, kw_only=True, tag="hcsr04"):
    """``type: hcsr04``: an HC-SR04 ultrasonic distance sensor, reported in cm."""

    trigger_pin: GpioPin
    echo_pin: GpioPin
    max_distance: Annotated[float, msgspec.Meta(gt=0, le=4.0)] = 2.0
    """Metres; the HC-SR04 is rated to 4 m."""
    interval: Seconds = Seconds(1)

    def __post_init__(self) -> None:
        if self.trigger_pin == self.echo_pin:
            raise ValueError("echo_pin: must differ from trigger_pin")


class Ds18b20Config(_SensorBase, frozen=True, kw_only=True, tag="ds18b20"):
    """``type: ds18b20``: a 1-Wire temperature sensor, found by its address under ``w1_root``."""

    address: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{2}-[0-9a-f]{12}$")]
    interval: Seconds = Seconds(10)
    w1_root: Path = Path("/sys/bus/w1/devices")


class SerialConfig(_SensorBase, frozen=True, kw_only=True, tag="serial"):
    """``type: serial``: a sensor on a serial port that speaks one of the known protocols."""

    port: NonEmpty
    protocol: Literal["sds011", "mhz19b", "json_lines", "key_value"]
    baudrate: Annotated[int, msgspec.Meta(gt=0, le=4_000_000)] | None = None
    """Defaults to the protocol's own rate (9600 for SDS011 and MH-Z19B)."""
    interval: Seconds = Seconds(10)
    """How often to ask a polled sensor (MH-Z19B) for a reading; for every protocol, the longest
    silence before a timeout fault is counted."""
    fields: dict[Identifier, FieldConfig] = msgspec.field(default_factory=dict)
    """Values carried by ``json_lines`` and ``key_value``; other keys are ignored."""

    def __post_init__(self) -> None:
        if self.protocol in ("json_lines", "key_value") and not self.fields:
            raise ValueError(f"fields: protocol {self.protocol} needs at least one entry")


SensorConfig = GpioInputConfig | Mcp3008Config | Hcsr04Config | Ds18b20Config | SerialConfig


class GpioOutputConfig(_Named, frozen=True, kw_only=True):
    """``type: gpio_output``: a relay, LED or buzzer on one pin; a switch in Home Assistant."""

    type: Literal["gpio_output"]
    """Required although it is the only output type, so configs stay valid when more come."""
    pin: GpioPin
    active_high: bool = True
    initial: bool = False
    device_class: Literal["outlet", "switch"] | None = None


OutputConfig = GpioOutputConfig


class SimulateConfig(_Section, frozen=True, kw_only=True):
    """``simulate``: a fleet of made-up devices, to try Home Assistant's side without hardware."""

    count: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    rate_hz: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 4.0
    seed: int | None = None
    state: StateConfig = msgspec.field(default_factory=StateConfig)
    """State filter of every simulated sensor (the stream carries every reading)."""


class DeviceConfig(_Named, frozen=True, kw_only=True):
    """One entry of ``devices``: a Home Assistant device with sensors, outputs or a fleet."""

    model: str | None = None
    area: str | None = None
    simulate: SimulateConfig | None = None
    sensors: list[SensorConfig] = msgspec.field(default_factory=list)
    outputs: list[OutputConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.id == BRIDGE_DEVICE_ID:
            raise ValueError(f"id: '{BRIDGE_DEVICE_ID}' is reserved for the bridge's own sensors")
        _unique((sensor.id for sensor in self.sensors), "sensors: duplicate id")
        _unique((output.id for output in self.outputs), "outputs: duplicate id")
        if self.simulate is None and not self.sensors and not self.outputs:
            raise ValueError("a device needs sensors, outputs or simulate")
        clash = {s.id for s in self.sensors} & {o.id for o in self.outputs}
        if clash:
            raise ValueError(f"sensor and output ids share MQTT topics; rename {sorted(clash)}")


class BridgeConfig(_Section, frozen=True, kw_only=True):
    """The whole configuration file, validated; ``parse_config`` and ``load_config`` make it."""

    bridge: BridgeSection = msgspec.field(default_factory=BridgeSection)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    zeroconf: ZeroconfConfig = msgspec.field(default_factory=ZeroconfConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    commands: CommandsConfig = msgspec.field(default_factory=CommandsConfig)
    state_dir: Path = DEFAULT_STATE_DIR
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    devices: list[DeviceConfig] = msgspec.field(default_factory=list)
    machines: list[MachineConfig] = msgspec.field(default_factory=list)
    """State machines (the vending machine is one); see docs/machines.md."""

    def __post_init__(self) -> None:
        _unique((device.id for device in self.devices), "devices: duplicate device id")

    @property
    def spool_path(self) -> Path:
        """The spool's database: ``spool.path``, else ``<state_dir>/spool.db``."""
        return self.spool.path or self.state_dir / "spool.db"


# ----- validation with every problem named ------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _line(path: str, kind: Any, error: ValueError) -> str:
    """Turn ``Expected `int` <= 27 - at `$[0].pin``` into ``<path>[0].pin: expected ...``."""
    if not isinstance(error, msgspec.ValidationError):  # an int too long to quote in one
        return f"{path or '(top level)'}: number out of range"
    message, _, where = str(error).partition(" - at `$")
    relative = where.removesuffix("`")
    if relative:
        path = f"{path}{relative}" if path else relative.removeprefix(".")
    key, _, rest = message.partition(": ")
    if rest and key in getattr(kind, "__struct_fields__", ()):
        path, message = _join(path, key), rest  # a struct's own check about one of its keys
    elif get_origin(kind) is Literal and not relative:
        allowed = dict.fromkeys(str(value) for value in get_args(kind))
        message += f"; expected one of: {', '.join(allowed)}"
    return f"{path or '(top level)'}: {message[:1].lower()}{message[1:]}"


def _shown(value: Any) -> str:
    """``repr(value)``; an int of thousands of digits has none (``sys.set_int_max_str_digits``)."""
    try:
        return repr(value)
    except ValueError:
        return "a number too large to show"


def _tagged(kinds: tuple[Any, ...]) -> dict[str, type[msgspec.Struct]] | None:
    """The members of a union of tagged structs by tag, or ``None`` for any other union."""
    members: dict[str, type[msgspec.Struct]] = {}
    for kind in kinds:
        tag = getattr(getattr(kind, "__struct_config__", None), "tag", None)
        if not isinstance(tag, str):
            return None
        members[tag] = kind
    return members


def _problems_in_parts(value: Any, kind: Any, path: str) -> list[str]:
    """The problems inside ``value``'s keys or items, looked at one by one."""
    if get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        members = [member for member in get_args(kind) if member is not type(None)]
        tagged = _tagged(tuple(members))
        if tagged is not None and isinstance(value, dict):
            tag_field = members[0].__struct_config__.tag_field
            tag = value.get(tag_field)
            if tag is None:
                return [f"{_join(path, tag_field)}: field required"]
            if not isinstance(tag, str) or tag not in tagged:
                expected = ", ".join(tagged)
                return [
                    f"{_join(path, tag_field)}: unknown type {_shown(tag)}; expected one of: "
                    f"{expected}"
                ]
            return _problems(value, tagged[tag], path)
        return _problems(value, members[0], path) if len(members) == 1 and value is not None else []
    if origin is list and isinstance(value, list):
        (item_kind,) = get_args(kind)
        return [
            line
            for i, item in enumerate(value)
            for line in _problems(item, item_kind, _join(path, i))
        ]
    if origin is dict and isinstance(value, dict):
        key_kind, item_kind = get_args(kind)
        lines = []
        for key, item in value.items():
            where = _join(path, str(key))
            lines += _problems(key, key_kind, where) or _problems(item, item_kind, where)
        return lines
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct) and isinstance(value, dict):
        fields = {field.encode_name: field for field in msgspec.structs.fields(kind)}
        tag_field = kind.__struct_config__.tag_field
        lines = [
            f"{_join(path, str(key))}: unknown key"
            for key in value
            if key not in fields and key != tag_field
        ]
        for name, field in fields.items():
            if name in value:
                lines += _problems(value[name], field.type, _join(path, name))
            elif field.required:
                lines.append(f"{_join(path, name)}: field required")
        return lines
    return []


class _RangeProblem(str):
    """A problem line about a number msgspec took but the bridge cannot use (see below)."""

    __slots__ = ()


def _out_of_range(value: Any, path: str) -> list[str]:
    """The numbers in a validated ``value`` that no setting can mean, one line each.

    msgspec takes any float for a ``float`` and any int for an ``int``: infinity, NaN, a
    denormal such as 5e-324 (whose reciprocal is infinite), an int of hundreds of digits.
    Every one of them would end in an ``OverflowError`` or a value that is never finite
    somewhere at run time, so each is refused here, named by its key path. (Durations are
    bounded by ``_seconds`` already.)
    """
    where = path or "(top level)"
    if isinstance(value, bool):
        return []
    if isinstance(value, float):
        if not math.isfinite(value):
            return [_RangeProblem(f"{where}: expected a finite number")]
        if value and abs(value) < sys.float_info.min:
            return [_RangeProblem(f"{where}: number out of range")]
        return []
    if isinstance(value, int):
        if value > INT_MAX:
            return [_RangeProblem(f"{where}: expected `int` <= {INT_MAX}")]
        if value < INT_MIN:
            return [_RangeProblem(f"{where}: expected `int` >= {INT_MIN}")]
        return []
    if isinstance(value, msgspec.Struct):
        return [
            line
            for field in msgspec.structs.fields(value)
            for line in _out_of_range(getattr(value, field.name), _join(path, field.encode_name))
        ]
    if isinstance(value, list | tuple):
        return [
            line for i, item in enumerate(value) for line in _out_of_range(item, _join(path, i))
        ]
    if isinstance(value, dict):
        return [
            line
            for key, item in value.items()
            for line in _out_of_range(item, _join(path, str(key)))
        ]
    return []


def _problems(value: Any, kind: Any, path: str = "") -> list[str]:
    """Every problem in ``value`` taken as ``kind``, one line each.

    msgspec stops at the first problem; a person fixing a file wants them all. So on a failure
    the parts (keys, items) are validated one by one, and a problem is reported where it is:
    in a part, or, when every part is fine, in the whole (a check across keys, a list's length).
    Numbers out of range (``_out_of_range``) do not fail msgspec: a whole with only those in
    its parts is checked as a whole too.
    """
    try:
        converted = msgspec.convert(value, kind, dec_hook=_decode)
    except ValueError as error:  # msgspec.ValidationError is one
        lines = _problems_in_parts(value, kind, path)
        if all(isinstance(line, _RangeProblem) for line in lines):
            lines.append(_line(path, kind, error))
        return lines
    return _out_of_range(converted, path)


def validate(data: Any, kind: type[_T]) -> _T:
    """``data`` (plain values, as YAML or JSON gives them) as ``kind``, or ``ConfigError``."""
    try:
        valid = msgspec.convert(data, kind, dec_hook=_decode)
    except ValueError:  # msgspec.ValidationError; also an int of thousands of digits in a message
        raise ConfigError(_problems(data, kind)) from None
    problems = _out_of_range(valid, "")
    if not problems and isinstance(valid, BridgeConfig) and valid.machines:
        problems = machine_problems(valid)  # checks across sections, once every part is valid
    if problems:
        raise ConfigError(problems)
    return valid


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with two changes for the bridge's files.

    An int too long to read is a YAML error at its line (Python reads ints of at most 4300
    digits; PyYAML would raise a bare ``ValueError``), and a key ``on`` (or ``off``, ``yes``,
    ``no``) is that word.
    """

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, "a number with too many digits", node.start_mark
            ) from None
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A key written ``on``, ``off``, ``yes`` or ``no`` is that word, not a YAML 1.1 bool.

        Actions are written ``{output: boiler/fan, on: true}``; as values these words stay
        booleans (``synchronous: off`` is still false).
        """
        for key_node, _ in node.value:
            if key_node.tag == _YAML_BOOL and key_node.value.lower() in _WORD_KEYS:
                key_node.tag = _YAML_STR
        return super().construct_mapping(node, deep=deep)


_YAML_BOOL: Final = "tag:yaml.org,2002:bool"
_YAML_STR: Final = "tag:yaml.org,2002:str"
_WORD_KEYS: Final = frozenset({"on", "off", "yes", "no"})
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def load_yaml(text: str) -> Any:
    """YAML as the bridge reads its files (``on`` is a word); ``yaml.YAMLError`` if invalid.

    For tools that edit a config file before the bridge reads it (``scripts/demo``).
    """
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader


def parse_config(text: str, source: str = "config") -> BridgeConfig:
    """Parse and validate YAML text; raise ``ConfigError`` naming every problem."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping of settings at the top level"])
    return validate(data, BridgeConfig)


def load_config(path: Path) -> BridgeConfig:
    """Read and validate the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read: {err.strerror or err}"]) from None
    return parse_config(text, str(path))


# ----- machines: state machines on the bridge (docs/machines.md) ---------------------------

SENSOR_REF: Final = rf"^{ID_PATTERN[1:-1]}/{ID_PATTERN[1:-1]}$"
"""``<device>/<sensor>`` or ``<device>/<output>``, as in topics."""
SensorRef = Annotated[str, msgspec.Meta(pattern=SENSOR_REF)]
EventValue = str | int | float | bool
"""A value in an event's data (``{slot: a}``); numbers are checked like every number."""
Money = Annotated[int, msgspec.Meta(ge=1, le=10**9)]
"""An amount in the currency's smallest unit (one coin pulse is ``coin.value`` of them)."""

VENDING_STATES: Final = (
    "idle",
    "awaiting_payment",
    "dispensing",
    "out_of_service",
    "needs_attention",
)
"""The states a machine with a ``vending`` block must have: the vending model gives them
their meaning (the money and the order in flight depend on them)."""
VENDING_VARIABLES: Final = {
    "credit": "numeric",
    "price": "numeric",
    "stock": "numeric",
    "stock_total": "numeric",
    "out_of_service": "binary",
}
"""Names a vending machine's guards may read besides sensors (machines/vending.py)."""


class ActionConfig(_Section, frozen=True, kw_only=True):
    """One action: drive an output, fire an event, or (vending) dispense the order's product.

    ``{output: boiler/fan, on: true, for: 2s}``, ``{fire: dispensed}``, ``{dispense: true,
    for: 2s}`` (the dispense output of the paid order's slot).
    """

    output: SensorRef | None = None
    on: bool = True
    for_: Seconds | None = msgspec.field(default=None, name="for")
    """Drive the output for this long, then back (``on: true, for: 2s`` is a 2 s pulse)."""
    fire: Identifier | None = None
    data: dict[Identifier, EventValue] = msgspec.field(default_factory=dict)
    dispense: bool = False

    def __post_init__(self) -> None:
        kinds = [self.output is not None, self.fire is not None, self.dispense]
        if sum(kinds) != 1:
            raise ValueError("an action is exactly one of output, fire or dispense")
        if self.data and self.fire is None:
            raise ValueError("data: only an action that fires an event carries data")


class TimeoutConfig(_Section, frozen=True, kw_only=True):
    """``timeout`` of a state: after this long in it, fire ``event`` or go ``to`` a state."""

    after: Seconds
    event: Identifier | None = None
    to: Identifier | None = None

    def __post_init__(self) -> None:
        if (self.event is None) == (self.to is None):
            raise ValueError("a timeout has either event or to")


class MachineStateConfig(_Section, frozen=True, kw_only=True):
    """One entry of a machine's ``states``: its entry and exit actions and its timeout."""

    entry: list[ActionConfig] = msgspec.field(default_factory=list)
    exit: list[ActionConfig] = msgspec.field(default_factory=list)
    timeout: TimeoutConfig | None = None


class TransitionConfig(_Section, frozen=True, kw_only=True):
    """One transition: on ``event`` (or as soon as ``when`` holds) from ``from`` to ``to``.

    ``from`` is a state, a list of states or ``"*"`` (every state). Without ``to`` the machine
    stays where it is and no entry or exit action runs. The first transition in the file whose
    event, source state and guard match is taken.
    """

    event: Identifier | None = None
    when: NonEmpty | None = None
    """An automatic transition: taken as soon as this expression is true (after every
    transition, and whenever sensor values change)."""
    sources: str | list[Identifier] = msgspec.field(name="from")
    to: Identifier | None = None
    guard: NonEmpty | None = None
    do: list[ActionConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.event is None) == (self.when is None):
            raise ValueError("a transition has either event or when")
        if self.when is not None and self.guard is not None:
            raise ValueError("guard: write the condition of an automatic transition in when")
        if self.when is not None and self.to is None:
            raise ValueError("to: an automatic transition (when) goes to a state")

    @property
    def from_states(self) -> list[str]:
        """``from`` as a list (``["*"]`` for every state)."""
        return [self.sources] if isinstance(self.sources, str) else list(self.sources)


class ServiceConfig(_Section, frozen=True, kw_only=True):
    """A service: acts only in its ``states``, then moves the machine on.

    When the machine arrives in one of ``states`` (on one of the events in ``on``, if given),
    the service's actions run in order; then it fires ``then``, or ``else`` if an action failed.
    """

    id: Identifier
    states: Annotated[list[Identifier], msgspec.Meta(min_length=1)]
    on: list[Identifier] = msgspec.field(default_factory=list)
    do: Annotated[list[ActionConfig], msgspec.Meta(min_length=1)]
    then: Identifier | None = None
    else_: Identifier | None = msgspec.field(default=None, name="else")


class InputConfig(_Section, frozen=True, kw_only=True):
    """An input that fires an event.

    An edge of a ``gpio_input`` sensor (a button, a pulse), or a reading of any other sensor
    (a serial line's value): every reading, or those ``equals`` a value, with the value in
    the event's data under ``value_as``.
    """

    input: SensorRef
    edge: Literal["rising", "falling"] | None = None
    """For a ``gpio_input``: the edge that fires (default ``rising``)."""
    equals: EventValue | None = None
    """For another sensor: fire only on a reading of this value."""
    value_as: Identifier | None = None
    """For another sensor: the reading's value goes into the event's data under this key."""
    event: Identifier
    data: dict[Identifier, EventValue] = msgspec.field(default_factory=dict)


class ProductConfig(_Section, frozen=True, kw_only=True):
    """A product in a slot: its name, price, stock at first start and dispense output."""

    slot: Identifier
    name: NonEmpty
    price: Money
    stock: Annotated[int, msgspec.Meta(ge=0, le=10**6)] = 0
    """The stock the first time the machine starts; afterwards the ledger has it."""
    output: SensorRef
    """The output that releases the product (``<device>/<output>``)."""


class CoinConfig(_Section, frozen=True, kw_only=True):
    """The coin acceptor: every edge of its pulse input is ``value`` units of credit."""

    input: SensorRef
    edge: Literal["rising", "falling"] = "rising"
    value: Money = 1


class VendingConfig(_Section, frozen=True, kw_only=True):
    """``vending``: makes a machine a vending machine (machines/vending.py)."""

    currency: str | None = None
    """Shown with amounts; amounts are integers in its smallest unit."""
    coin: CoinConfig | None = None
    products: Annotated[list[ProductConfig], msgspec.Meta(min_length=1)]
    out_of_service: NonEmpty | None = None
    """Sensors only: while true (or unknown) the machine is out of service, e.g.
    ``fridge.temperature > 8``. A dispense output that failed counts as well."""
    back_in_service: NonEmpty | None = None
    """Sensors only: when the machine is back in service; default: when ``out_of_service``
    is false (give a lower threshold here for hysteresis, ``fridge.temperature < 7``)."""

    def __post_init__(self) -> None:
        _unique((product.slot for product in self.products), "products: duplicate slot")
        if self.back_in_service is not None and self.out_of_service is None:
            raise ValueError("back_in_service: only with out_of_service")


class MachineConfig(_Named, frozen=True, kw_only=True):
    """One entry of ``machines``: a state machine run by the bridge (docs/machines.md)."""

    initial: Identifier
    states: Annotated[dict[Identifier, MachineStateConfig | None], msgspec.Meta(min_length=1)]
    transitions: Annotated[list[TransitionConfig], msgspec.Meta(min_length=1)]
    services: list[ServiceConfig] = msgspec.field(default_factory=list)
    inputs: list[InputConfig] = msgspec.field(default_factory=list)
    commands: list[Identifier] = msgspec.field(default_factory=list)
    """Events Home Assistant may fire over the command channel."""
    kiosk: list[Identifier] = msgspec.field(default_factory=list)
    """Events the kiosk page's buttons may fire."""
    vending: VendingConfig | None = None

    def state(self, name: str) -> MachineStateConfig:
        """The state's settings (a state written without any is an empty one)."""
        return self.states.get(name) or _NO_STATE_SETTINGS


_NO_STATE_SETTINGS: Final = MachineStateConfig()


class _Sensor(NamedTuple):
    kind: str  # numeric, binary, enum, text, location
    options: tuple[str, ...] = ()
    edge_input: bool = False


def _sensor_index(config: BridgeConfig) -> dict[tuple[str, str], _Sensor]:
    """Every sensor (and output, readable as a binary value) the devices will have."""
    index: dict[tuple[str, str], _Sensor] = {}
    for device in config.devices:
        if device.simulate is not None:
            from iot_monitor_bridge.drivers.simulated import SENSORS  # noqa: PLC0415

            for n in range(1, device.simulate.count + 1):
                for spec in SENSORS:
                    index[(f"{device.id}_{n}", spec.id)] = _Sensor(spec.kind.value, spec.options)
        for sensor in device.sensors:
            ids = [sensor.id]
            if isinstance(sensor, SerialConfig) and sensor.protocol == "sds011":
                ids = [f"{sensor.id}_pm25", f"{sensor.id}_pm10"]
            elif isinstance(sensor, SerialConfig) and sensor.protocol != "mhz19b":
                ids = [f"{sensor.id}_{field}" for field in sensor.fields]
            binary = isinstance(sensor, GpioInputConfig)
            for sensor_id in ids:
                index[(device.id, sensor_id)] = (
                    _Sensor("binary", edge_input=True) if binary else _Sensor("numeric")
                )
        for output in device.outputs:
            index[(device.id, output.id)] = _Sensor("binary")
    return index


class _MachineCheck:
    """The checks of one machine that need the rest of the file; one line per problem."""

    def __init__(self, machine: MachineConfig, path: str, config: BridgeConfig) -> None:
        self.machine = machine
        self.path = path
        self.sensors = _sensor_index(config)
        self.outputs = {(d.id, o.id) for d in config.devices for o in d.outputs}
        self.problems: list[str] = []
        self.variables = VENDING_VARIABLES if machine.vending is not None else {}
        self.handled = {t.event for t in machine.transitions if t.event is not None}

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path}.{where}: {message}")

    def run(self) -> list[str]:
        m = self.machine
        if m.initial not in m.states:
            self.add("initial", f"unknown state '{m.initial}'; {self._known_states()}")
        for i, transition in enumerate(m.transitions):
            self._transition(transition, f"transitions[{i}]")
        for name in m.states:
            self._state(name, f"states.{name}")
        for i, service in enumerate(m.services):
            self._service(service, f"services[{i}]")
        for i, item in enumerate(m.inputs):
            self._input(item, f"inputs[{i}]")
            self._slot_data(item.event, item.data, f"inputs[{i}].data")
        for key in ("commands", "kiosk"):
            for i, event in enumerate(getattr(m, key)):
                self._handled(event, f"{key}[{i}]")
        if m.vending is not None:
            self._vending(m.vending)
        self._unfired_events()
        self._unreachable_states()
        return self.problems

    # --- parts -------------------------------------------------------------------------

    def _known_states(self) -> str:
        return f"states: {', '.join(self.machine.states)}"

    def _state_ref(self, name: str, where: str) -> bool:
        if name in self.machine.states:
            return True
        self.add(where, f"unknown state '{name}'; {self._known_states()}")
        return False

    def _handled(self, event: str, where: str) -> None:
        if event not in self.handled:
            self.add(where, f"no transition takes the event '{event}'")

    def _transition(self, transition: TransitionConfig, where: str) -> None:
        sources = transition.sources
        if isinstance(sources, str):
            if sources != "*":
                self._state_ref(sources, f"{where}.from")
        else:
            for i, source in enumerate(sources):
                self._state_ref(source, f"{where}.from[{i}]")
        if transition.to is not None:
            self._state_ref(transition.to, f"{where}.to")
        if transition.guard is not None:
            self._expression(transition.guard, f"{where}.guard")
        if transition.when is not None:
            self._expression(transition.when, f"{where}.when")
        self._actions(transition.do, f"{where}.do")

    def _state(self, name: str, where: str) -> None:
        settings = self.machine.state(name)
        self._actions(settings.entry, f"{where}.entry")
        self._actions(settings.exit, f"{where}.exit")
        timeout = settings.timeout
        if timeout is not None and timeout.to is not None:
            self._state_ref(timeout.to, f"{where}.timeout.to")
        elif (
            timeout is not None
            and timeout.event is not None
            and not self._takes(name, timeout.event)
        ):
            self.add(
                f"{where}.timeout.event",
                f"no transition takes the event '{timeout.event}' in the state '{name}'",
            )

    def _takes(self, state: str, event: str, *, unguarded: bool = False) -> bool:
        return any(
            t.event == event
            and (t.sources == "*" or state in t.from_states)
            and not (unguarded and t.guard is not None)
            for t in self.machine.transitions
        )

    def _service(self, service: ServiceConfig, where: str) -> None:
        for i, state in enumerate(service.states):
            self._state_ref(state, f"{where}.states[{i}]")
        for i, event in enumerate(service.on):
            self._handled(event, f"{where}.on[{i}]")
        for key, reply in (("then", service.then), ("else", service.else_)):
            if reply is not None:
                self._handled(reply, f"{where}.{key}")
        self._actions(service.do, f"{where}.do")

    def _actions(self, actions: list[ActionConfig], where: str) -> None:
        for i, action in enumerate(actions):
            here = f"{where}[{i}]"
            if action.output is not None:
                self._output(action.output, f"{here}.output")
            if action.fire is not None:
                self._handled(action.fire, f"{here}.fire")
                self._slot_data(action.fire, action.data, f"{here}.data")
            if action.dispense and self.machine.vending is None:
                self.add(f"{here}.dispense", "only a machine with a vending block dispenses")

    def _output(self, ref: str, where: str) -> None:
        device, _, output = ref.partition("/")
        if (device, output) not in self.outputs:
            known = sorted(f"{d}/{o}" for d, o in self.outputs)
            self.add(where, f"unknown output '{ref}'; outputs: {', '.join(known) or 'none'}")

    def _sensor(self, device: str, sensor: str, where: str, written: str) -> _Sensor | None:
        found = self.sensors.get((device, sensor))
        if found is None:
            same_device = sorted(s for d, s in self.sensors if d == device)
            hint = (
                f"device '{device}' has: {', '.join(same_device)}"
                if same_device
                else f"there is no device '{device}' with sensors"
            )
            self.add(where, f"unknown sensor '{written}'; {hint}")
        return found

    def _input(self, item: InputConfig, where: str) -> None:
        """A ``gpio_input`` fires on an edge; any other sensor on its readings."""
        device, _, sensor = item.input.partition("/")
        found = self._sensor(device, sensor, f"{where}.input", item.input)
        if found is None:
            return
        if found.edge_input:
            for key in ("equals", "value_as"):
                if getattr(item, key) is not None:
                    self.add(f"{where}.{key}", f"'{item.input}' is a gpio_input: it fires on edge")
        elif item.edge is not None:
            self.add(
                f"{where}.edge", f"'{item.input}' is not a gpio_input sensor; only those have edges"
            )
        if item.value_as is not None and item.value_as in item.data:
            self.add(f"{where}.value_as", f"'{item.value_as}' is in data already")

    def _edge_input(self, ref: str, where: str) -> None:
        device, _, sensor = ref.partition("/")
        found = self._sensor(device, sensor, where, ref)
        if found is not None and not found.edge_input:
            self.add(where, f"'{ref}' is not a gpio_input sensor; only those have edges")

    def _slot_data(self, event: str, data: dict[str, EventValue], where: str) -> None:
        vending = self.machine.vending
        if vending is None or event not in ("select", "restock", "set_price"):
            return
        slots = [product.slot for product in vending.products]
        if "slot" not in data:
            if event == "select" and where.startswith("inputs"):
                self.add(where, "a select input names its product: data: {slot: ...}")
            return
        if data["slot"] not in slots:
            self.add(f"{where}.slot", f"unknown slot {data['slot']!r}; slots: {', '.join(slots)}")

    def _expression(self, text: str, where: str, *, variables: bool = True) -> None:
        from iot_monitor_bridge.machines import expr  # noqa: PLC0415 - only with machines

        try:
            node = expr.parse(text)
        except expr.ExpressionError as err:
            self.add(where, f"{err} in {text!r}")
            return
        kinds: dict[str, _Sensor] = {}
        for leaf in expr.names(node):
            if leaf[0] == "sensor":
                device, sensor = str(leaf[1]), str(leaf[2])
                found = self._sensor(device, sensor, where, f"{device}.{sensor}")
                if found is not None:
                    kinds[f"{device}.{sensor}"] = found
            elif not variables or leaf[1] not in self.variables:
                name = leaf[1]
                allowed = ", ".join(self.variables) if variables and self.variables else None
                what = f"variables: {allowed}" if allowed else "sensors are <device>.<sensor>"
                self.add(where, f"unknown name '{name}'; {what}")
            else:
                kinds[str(leaf[1])] = _Sensor(self.variables[str(leaf[1])])
        for op, left, right in expr.comparisons(node):
            self._comparison(op, (left, right), kinds, where)
            self._comparison(op, (right, left), kinds, where)

    def _comparison(
        self, op: str, sides: tuple[tuple[object, ...], ...], kinds: dict[str, _Sensor], where: str
    ) -> None:
        from iot_monitor_bridge.machines import expr  # noqa: PLC0415 - only with machines

        side, other = sides
        if side[0] not in ("sensor", "var"):
            return
        name = expr.describe(side)
        found = kinds.get(name)
        if found is None:
            return
        if op in expr.ORDERING and found.kind != "numeric":
            self.add(where, f"'{op}' compares numbers; {name} is a {found.kind} value")
            return
        if other[0] != "lit":
            return
        value = other[1]
        fits = {
            "numeric": expr.is_number(value),
            "binary": isinstance(value, bool),
            "location": False,
        }.get(found.kind, isinstance(value, str))
        if not fits:
            self.add(
                where, f"{name} is a {found.kind} value; it cannot equal {expr.describe(other)}"
            )
        elif found.options and value not in found.options:
            self.add(where, f"{name} is one of {', '.join(found.options)}; never {value!r}")

    def _vending(self, vending: VendingConfig) -> None:
        m = self.machine
        for i, product in enumerate(vending.products):
            self._output(product.output, f"vending.products[{i}].output")
        if vending.coin is not None:
            self._edge_input(vending.coin.input, "vending.coin.input")
        for key in ("out_of_service", "back_in_service"):
            text = getattr(vending, key)
            if text is not None:
                self._expression(text, f"vending.{key}", variables=False)
        missing = [state for state in VENDING_STATES if state not in m.states]
        if missing:
            self.add("states", f"a vending machine needs the states {', '.join(missing)}")
            return
        if vending.coin is not None or "coin" in self.handled:
            refusing = [s for s in m.states if not self._takes(s, "coin", unguarded=True)]
            if refusing:
                self.add(
                    "transitions",
                    "a vending machine takes 'coin' in every state, without a guard (a pulse "
                    f"is money already in the box); not in: {', '.join(refusing)}",
                )
        for event in ("dispensed", "dispense_failed"):
            if not self._takes("dispensing", event):
                self.add(
                    "transitions",
                    f"a vending machine needs a transition on '{event}' "
                    "from 'dispensing' (else a paid order never ends)",
                )
        if not self._takes("needs_attention", "settle"):
            self.add(
                "transitions",
                "a vending machine needs a transition on 'settle' from "
                "'needs_attention' (a person settles the order the restart found)",
            )
        for i, t in enumerate(m.transitions):
            self._vending_rule(t, f"transitions[{i}]")

    def _vending_rule(self, t: TransitionConfig, where: str) -> None:
        sources = set(self.machine.states) if t.sources == "*" else set(t.from_states)
        moves = t.to is not None and (t.to not in sources or len(sources) > 1)
        if t.event == "pay" and t.to != "dispensing":
            self.add(f"{where}.to", "'pay' leads to 'dispensing' (the paid order is dispensed)")
        elif t.event != "pay" and t.to == "dispensing":
            self.add(f"{where}.to", "only 'pay' leads to 'dispensing'")
        for state, allowed in (
            ("dispensing", ("dispensed", "dispense_failed")),
            ("needs_attention", ("settle",)),
        ):
            if state in sources and moves and t.event not in allowed:
                name = t.event or "when"
                self.add(
                    f"{where}.from",
                    f"'{state}' is left only on {' or '.join(allowed)}, not on '{name}' "
                    "(an order is in flight there)",
                )
        if t.event in ("dispensed", "dispense_failed") and sources != {"dispensing"}:
            self.add(f"{where}.from", f"'{t.event}' is taken only from 'dispensing'")
        if t.event == "settle" and sources != {"needs_attention"}:
            self.add(f"{where}.from", "'settle' is taken only from 'needs_attention'")

    def _fired_events(self) -> set[str]:
        m = self.machine
        fired = {item.event for item in m.inputs} | set(m.commands) | set(m.kiosk)
        if m.vending is not None and m.vending.coin is not None:
            fired.add("coin")
        actions = [a for t in m.transitions for a in t.do]
        actions += [a for s in m.services for a in s.do]
        for name in m.states:
            settings = m.state(name)
            actions += [*settings.entry, *settings.exit]
            if settings.timeout is not None and settings.timeout.event is not None:
                fired.add(settings.timeout.event)
        fired |= {a.fire for a in actions if a.fire is not None}
        fired |= {e for s in m.services for e in (s.then, s.else_) if e is not None}
        return fired

    def _unfired_events(self) -> None:
        fired = self._fired_events()
        reported: set[str] = set()
        for i, t in enumerate(self.machine.transitions):
            if t.event is not None and t.event not in fired and t.event not in reported:
                reported.add(t.event)
                self.add(
                    f"transitions[{i}].event",
                    f"nothing fires '{t.event}': no input, command, kiosk button, timeout, "
                    "action or service",
                )

    def _unreachable_states(self) -> None:
        m = self.machine
        if m.initial not in m.states:
            return
        edges: dict[str, set[str]] = {name: set() for name in m.states}
        for t in m.transitions:
            sources = m.states if t.sources == "*" else t.from_states
            for source in sources:
                if source in edges and t.to in m.states:
                    edges[source].add(t.to)
        for name in m.states:
            timeout = m.state(name).timeout
            if timeout is not None and timeout.to in m.states:
                edges[name].add(timeout.to)
        roots = [m.initial]
        if m.vending is not None and "needs_attention" in m.states:
            roots.append("needs_attention")  # where a restart puts an order it cannot finish
        seen = set(roots)
        stack = list(roots)
        while stack:
            for target in edges[stack.pop()] - seen:
                seen.add(target)
                stack.append(target)
        for name in m.states:
            if name not in seen:
                self.add(f"states.{name}", f"unreachable from the initial state '{m.initial}'")


def machine_problems(config: BridgeConfig) -> list[str]:
    """What is wrong in ``machines`` given the rest of the file, one line per problem.

    Unknown states, outputs and sensors; unreachable states; events nothing can fire; guard
    expressions that do not parse (with the position) or read what does not exist; and the
    rules that keep a vending machine's money and orders safe.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for i, machine in enumerate(config.machines):
        if machine.id in seen:
            problems.append(f"machines[{i}].id: duplicate machine id '{machine.id}'")
        seen.add(machine.id)
        problems += _MachineCheck(machine, f"machines[{i}]", config).run()
    return problems
