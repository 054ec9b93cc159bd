"""The bridge's YAML configuration: schema, defaults and validation.

Validation is pure: ``parse_config`` takes the text of the file and either returns a
``BridgeConfig`` or raises ``ConfigError`` whose ``problems`` are one line per problem,
each naming the key path (``devices[1].sensors[0].pin: field required``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from iot_monitor_bridge.model import BRIDGE_DEVICE_ID

DEFAULT_CONFIG_PATH = Path("/etc/iot-monitor/bridge.yaml")
DEFAULT_STATE_DIR = Path("/var/lib/iot-monitor")

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""Ids end up in MQTT topics and Home Assistant unique ids: lowercase, no slashes or wildcards."""
BRIDGE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
"""A bridge id has no underscore: discovery object ids are ``<bridge>_<device>``, and only this
keeps them unambiguous across bridges (bridge ``a`` + device ``b_c`` vs bridge ``a_b`` + ``c``)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(Exception):
    """The configuration is not valid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _duration(value: Any) -> Any:
    """Accept ``10s``, ``500ms``, ``1m``, ``2h`` or a plain number of seconds."""
    if isinstance(value, bool):  # pydantic would take ``true`` as 1 s
        raise ValueError("expected a duration such as 500ms, 10s, 1m or a number of seconds")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("expected a duration such as 500ms, 10s, 1m or a number of seconds")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(_duration), Field(gt=0, allow_inf_nan=False)]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
GpioPin = Annotated[int, Field(ge=0, le=27)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:64] or "iot-monitor"


class BridgeSection(_Strict):
    id: Annotated[str, Field(pattern=BRIDGE_ID_PATTERN)] = Field(
        default_factory=lambda: _slug(socket.gethostname())
    )
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id


class BrokerConfig(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)


class TlsConfig(_Strict):
    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False
    """Skip hostname checking (never the certificate chain). Only for test brokers."""


class MqttConfig(_Strict):
    brokers: list[BrokerConfig] = Field(
        default_factory=lambda: [BrokerConfig(host="127.0.0.1")], min_length=1
    )
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    tls: TlsConfig | None = None
    topic_root: str = Field(default="iot_monitor", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_-]+$")
    protocol: Annotated[Literal["3.1.1", "5"], BeforeValidator(str)] = "3.1.1"
    """MQTT protocol version; ``5`` honours the broker's Receive Maximum."""
    keepalive: Seconds = 30.0
    failover_after: Seconds = 5.0
    """How long the connected broker may be unreachable before moving to the next one."""
    primary_probe_interval: Seconds = 30.0
    """How often to check whether a higher-priority broker is back, to fail back to it."""


class HttpConfig(_Strict):
    enabled: bool = True
    port: int = Field(default=8765, ge=0, le=65535)
    bind: str = "0.0.0.0"


class ZeroconfConfig(_Strict):
    enabled: bool = True


class HealthConfig(_Strict):
    enabled: bool = True
    interval: Seconds = 15.0
    disk_path: Path = Path("/")


class SpoolConfig(_Strict):
    path: Path | None = None
    """Defaults to ``<state_dir>/spool.db``."""
    commit_interval: Seconds = 1.0
    commit_every: int = Field(default=200, ge=1)
    synchronous: Literal["off", "normal", "full"] = "normal"
    max_readings: int = Field(default=1_000_000, ge=100)
    max_age: Seconds = 7 * 24 * 3600.0


class CommandsConfig(_Strict):
    """The JSON command channel (docs/mqtt.md): a token bucket bounds how fast it is served."""

    rate: float = Field(default=10.0, gt=0, le=1000, allow_inf_nan=False)
    """Commands per second, sustained."""
    burst: int = Field(default=20, ge=1, le=1000)
    """Commands accepted at once after a quiet period."""


class FieldConfig(_Strict):
    """One value carried by a text serial protocol (JSON lines, key=value)."""

    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    scale: float = 1.0
    offset: float = 0.0


class _SensorBase(_Strict):
    id: Identifier
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()


class GpioInputConfig(_SensorBase):
    type: Literal["gpio_input"]
    pin: GpioPin
    device_class: str | None = None
    """Home Assistant binary_sensor device class: door, window, motion, occupancy, ..."""
    pull_up: bool | None = True
    active_high: bool | None = None
    """Only with ``pull_up: null`` (floating input with an external resistor)."""
    bounce_time: Seconds = 0.05
    invert: bool = False

    @model_validator(mode="after")
    def _active_high_only_when_floating(self) -> Self:
        if (self.pull_up is None) != (self.active_high is not None):
            raise ValueError("active_high is required with pull_up: null, and only then")
        return self


class Mcp3008Config(_SensorBase):
    type: Literal["mcp3008"]
    channel: int = Field(ge=0, le=7)
    spi_port: int = Field(default=0, ge=0, le=1)
    spi_device: int = Field(default=0, ge=0, le=1)
    min_value: float = 0.0
    """Value reported at 0 V."""
    max_value: float = 1.0
    """Value reported at the reference voltage."""
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    precision: int | None = Field(default=None, ge=0, le=6)
    interval: Seconds = 5.0


class Hcsr04Config(_SensorBase):
    type: Literal["hcsr04"]
    trigger_pin: GpioPin
    echo_pin: GpioPin
    max_distance: float = Field(default=2.0, gt=0, le=4.0)
    """Metres; the HC-SR04 is rated to 4 m."""
    interval: Seconds = 1.0

    @model_validator(mode="after")
    def _distinct_pins(self) -> Self:
        if self.trigger_pin == self.echo_pin:
            raise ValueError("trigger_pin and echo_pin must differ")
        return self


class Ds18b20Config(_SensorBase):
    type: Literal["ds18b20"]
    address: str = Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{12}$")
    interval: Seconds = 10.0
    w1_root: Path = Path("/sys/bus/w1/devices")


class SerialConfig(_SensorBase):
    type: Literal["serial"]
    port: str = Field(min_length=1)
    protocol: Literal["sds011", "mhz19b", "json_lines", "key_value"]
    baudrate: int | None = Field(default=None, gt=0)
    """Defaults to the protocol's own rate (9600 for SDS011 and MH-Z19B)."""
    interval: Seconds = 10.0
    """How often to ask a polled sensor (MH-Z19B) for a reading; for every protocol, the longest
    silence before a timeout fault is counted."""
    fields: dict[Identifier, FieldConfig] = Field(default_factory=dict)
    """Values carried by ``json_lines`` and ``key_value``; other keys are ignored."""

    @model_validator(mode="after")
    def _fields_for_text_protocols(self) -> Self:
        if self.protocol in ("json_lines", "key_value") and not self.fields:
            raise ValueError(f"protocol {self.protocol} needs at least one entry in fields")
        return self


SensorConfig = Annotated[
    GpioInputConfig | Mcp3008Config | Hcsr04Config | Ds18b20Config | SerialConfig,
    Field(discriminator="type"),
]
SENSOR_TYPES = ("gpio_input", "mcp3008", "hcsr04", "ds18b20", "serial")


class GpioOutputConfig(_Strict):
    id: Identifier
    type: Literal["gpio_output"]
    pin: GpioPin
    name: str | None = None
    active_high: bool = True
    initial: bool = False
    device_class: Literal["outlet", "switch"] | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()


OutputConfig = Annotated[GpioOutputConfig, Field(discriminator="type")]
OUTPUT_TYPES = ("gpio_output",)


class SimulateConfig(_Strict):
    count: int = Field(default=8, ge=1, le=1000)
    rate_hz: float = Field(default=4.0, gt=0, le=1000)
    seed: int | None = None


class DeviceConfig(_Strict):
    id: Identifier
    name: str | None = None
    model: str | None = None
    area: str | None = None
    simulate: SimulateConfig | None = None
    sensors: list[SensorConfig] = Field(default_factory=list)
    outputs: list[OutputConfig] = Field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == BRIDGE_DEVICE_ID:
            raise ValueError(f"'{BRIDGE_DEVICE_ID}' is reserved for the bridge's own sensors")
        return value

    @field_validator("sensors", "outputs")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        _unique((item.id for item in items), "id")
        return items

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.simulate is None and not self.sensors and not self.outputs:
            raise ValueError("a device needs sensors, outputs or simulate")
        clash = {s.id for s in self.sensors} & {o.id for o in self.outputs}
        if clash:
            raise ValueError(f"sensor and output ids share MQTT topics; rename {sorted(clash)}")
        return self


class BridgeConfig(_Strict):
    bridge: BridgeSection = Field(default_factory=BridgeSection)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    zeroconf: ZeroconfConfig = Field(default_factory=ZeroconfConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    state_dir: Path = DEFAULT_STATE_DIR
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    devices: list[DeviceConfig] = Field(default_factory=list)

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        _unique((device.id for device in devices), "device id")
        return devices

    @property
    def spool_path(self) -> Path:
        return self.spool.path or self.state_dir / "spool.db"


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} '{item}'")
        seen.add(item)


_TAGS = frozenset(SENSOR_TYPES + OUTPUT_TYPES)


def _path(loc: tuple[int | str, ...]) -> str:
    """``('devices', 1, 'sensors', 0, 'gpio_input', 'pin')`` -> ``devices[1].sensors[0].pin``."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(previous, int) and part in _TAGS):  # the union's tag adds nothing
            out += f".{part}" if out else part
        previous = part
    return out or "(top level)"


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "union_tag_invalid":
        allowed = OUTPUT_TYPES if "outputs" in error["loc"] else SENSOR_TYPES
        return f"unknown type {error['input'].get('type')!r}; expected one of: " + ", ".join(
            allowed
        )
    if kind == "union_tag_not_found":
        return "field required"
    message: str = error["msg"]
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def problems_of(error: ValidationError) -> list[str]:
    """One line per problem, each starting with the key path."""
    lines = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if item["type"] == "union_tag_not_found":
            loc = (*loc, "type")
        lines.append(f"{_path(tuple(loc))}: {_message(item)}")
    return lines


def parse_config(text: str, source: str = "config") -> BridgeConfig:
    """Parse and validate YAML text; raise ``ConfigError`` naming every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping of settings at the top level"])
    try:
        return BridgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_of(err)) from None


def load_config(path: Path) -> BridgeConfig:
    """Read and validate the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read: {err.strerror or err}"]) from None
    return parse_config(text, str(path))
