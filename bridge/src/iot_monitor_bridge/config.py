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
from typing import Annotated, Any, Final, Literal, TypeVar, Union, get_args, get_origin

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


class HttpConfig(_Section, frozen=True, kw_only=True):
    """``http``: ``/health`` and ``/metrics`` (``port: 0`` picks a free port)."""

    enabled: bool = True
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8765
    bind: str = "0.0.0.0"


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
    if problems:
        raise ConfigError(problems)
    return valid


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but an int too long to read is a YAML error at its line.

    Python reads ints of at most 4300 digits; PyYAML would raise a bare ``ValueError``.
    """

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, "a number with too many digits", node.start_mark
            ) from None
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def parse_config(text: str, source: str = "config") -> BridgeConfig:
    """Parse and validate YAML text; raise ``ConfigError`` naming every problem."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
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
