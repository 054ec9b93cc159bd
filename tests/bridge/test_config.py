"""Configuration validation: every problem named by its key path, defaults as documented."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_monitor_bridge.config import (
    BridgeConfig,
    ConfigError,
    Seconds,
    parse_config,
    validate,
)
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.drivers.base import DriverError


def test_defaults_for_a_fleet_only_config() -> None:
    config = parse_config("devices: [{id: fleet, simulate: {}}]")
    assert config.mqtt.brokers[0].host == "127.0.0.1"
    assert config.mqtt.brokers[0].port == 1883
    assert config.mqtt.topic_root == "iot_monitor"
    assert config.mqtt.discovery_prefix == "homeassistant"
    assert (config.http.port, config.http.bind) == (8765, "0.0.0.0")
    assert config.zeroconf.enabled
    assert config.health.interval == 15.0
    assert config.devices[0].simulate is not None
    assert (config.devices[0].simulate.count, config.devices[0].simulate.rate_hz) == (8, 4.0)


def test_durations_accept_units() -> None:
    config = parse_config(
        "devices: [{id: b, sensors: [{id: t, type: ds18b20, address: 28-0316a2794bff, "
        "interval: 500ms}]}]\nhealth: {interval: 1m}"
    )
    assert config.devices[0].sensors[0].interval == 0.5
    assert config.health.interval == 60.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "devices: [{id: a, simulate: {}}, {id: b, sensors: [{id: door, type: gpio_input}]}]",
            "devices[1].sensors[0].pin: field required",
        ),
        (
            "devices: [{id: b, sensors: [{id: x, type: nope}]}]",
            "devices[0].sensors[0].type: unknown type 'nope'",
        ),
        ("devices: [{id: b, sensors: [{id: x}]}]", "devices[0].sensors[0].type: field required"),
        (
            "devices: [{id: b, sensors: [{id: x, type: [1]}]}]",
            "devices[0].sensors[0].type: unknown type [1]",
        ),
        ("http: {port: 70000}", "http.port: expected `int` <= 65535"),
        ("mqtt: {brokers: []}", "mqtt.brokers: expected `array` of length >= 1"),
        ("bogus: 1", "bogus: unknown key"),
        ("spool: {synchronous: on}", "spool.synchronous: expected one of: off, normal, full"),
        ("mqtt: {protocol: 4}", "mqtt.protocol: invalid enum value 4; expected one of: 3.1.1, 5"),
        ("devices: [{id: Bad/Id, simulate: {}}]", "devices[0].id: expected `str` matching regex"),
        ("devices: [{id: bridge, simulate: {}}]", "devices[0].id: 'bridge' is reserved"),
        ("bridge: {id: kitchen_pi}", "bridge.id: expected `str` matching regex"),
        ("devices: [{id: a, simulate: {}}, {id: a, simulate: {}}]", "devices: duplicate device id"),
        ("health: {interval: soon}", "health.interval: expected a duration"),
        ("devices: [\n  {id: a,\n", "config:3: invalid YAML"),
        ("- 1\n- 2\n", "config: expected a mapping"),
    ],
)
def test_problems_name_the_key(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("http: {port: -1}\nmqtt: {keepalive: 0}\n")
    assert len(caught.value.problems) == 2


def test_bridge_id_from_the_hostname_is_a_valid_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "Kitchen_Pi.local")
    assert parse_config("").bridge.id == "kitchen-pi-local"


def test_problems_in_several_places_are_all_named() -> None:
    text = """\
devices:
  - id: a
    sensors:
      - {id: door, type: gpio_input, pin: 40}
      - {id: sonar, type: hcsr04, trigger_pin: 5, echo_pin: 5}
      - {id: air, type: serial, port: /dev/ttyUSB0, protocol: json_lines, fields: {Bad: {}}}
    outputs:
      - {id: fan, pin: 4, colour: red}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == [
        "devices[0].sensors[0].pin: expected `int` <= 27",
        "devices[0].sensors[1].echo_pin: must differ from trigger_pin",
        "devices[0].sensors[2].fields.Bad: expected `str` matching regex "
        "'^[a-z0-9][a-z0-9_-]{0,63}$'",
        "devices[0].outputs[0].colour: unknown key",
        "devices[0].outputs[0].type: field required",
    ]


@pytest.mark.parametrize(("written", "level"), [("off", "off"), ("'off'", "off"), ("full", "full")])
def test_spool_synchronous_off_may_be_written_bare(written: str, level: str) -> None:
    assert parse_config(f"spool: {{synchronous: {written}}}").spool.synchronous == level


@pytest.mark.parametrize("version", ["5", "'5'", "'3.1.1'"])
def test_mqtt_protocol_is_taken_as_number_or_text(version: str) -> None:
    config = parse_config(f"mqtt: {{protocol: {version}}}")
    assert config.mqtt.mqtt5 == ("5" in version)


def test_the_password_stays_out_of_the_configs_repr() -> None:
    config = parse_config("mqtt: {username: pi, password: hunter2}")
    assert config.mqtt.password == "hunter2"
    assert "hunter2" not in repr(config)
    assert "password=***" in repr(config)


def test_config_is_immutable() -> None:
    config = parse_config("")
    with pytest.raises(AttributeError):
        config.http.port = 1  # type: ignore[misc]


_KEYS = st.sampled_from(
    [
        "devices",
        "sensors",
        "outputs",
        "id",
        "type",
        "pin",
        "fields",
        "mqtt",
        "brokers",
        "host",
        "tls",
        "protocol",
        "interval",
        "simulate",
        "count",
        "gpio_input",
        "serial",
        "x",
    ]
)
_HUGE_INTS = st.integers(min_value=10**200, max_value=10**450) | st.integers(
    min_value=-(10**450), max_value=-(10**200)
)
"""Ints of hundreds of digits: no float can hold them (``float(10**400)`` is an OverflowError)."""
_EXTREME_FLOATS = (
    st.sampled_from(
        [
            5e-324,  # the smallest denormal
            -5e-324,
            sys.float_info.min,  # the smallest normal float
            1e-300,
            -0.0,
            sys.float_info.max,
            -sys.float_info.max,
            math.inf,  # YAML .inf
            -math.inf,
            math.nan,  # YAML .nan
        ]
    )
    | st.floats(min_value=-1e-300, max_value=1e-300)
    | st.floats(min_value=1e300)
    | st.floats(max_value=-1e300)
)
_EXTREME_DURATIONS = st.builds(
    lambda digits, unit: digits + unit,
    st.sampled_from(["9" * 400, "0." + "0" * 400 + "1", "1" + "0" * 20, "0.0001", "0.000"]),
    st.sampled_from(["", "ms", "s", "m", "h"]),
)
"""Duration text whose number is too large for a float or so small that it is 0.0."""
_EXTREME_NUMBERS = _HUGE_INTS | _EXTREME_FLOATS | _EXTREME_DURATIONS
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | _KEYS
    | _EXTREME_NUMBERS
)
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=30,
)


EXAMPLE = yaml.safe_load(
    (Path(__file__).parents[2] / "bridge/examples/bridge.yaml").read_text(encoding="utf-8")
)


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where a value sits in ``tree``: every key and item, at every depth."""
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    return [path, *(p for key, value in items for p in _paths(value, (*path, key)))]


def _replaced(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[head] = _replaced(tree[head], tuple(rest), value)
    return copy


@st.composite
def _configs(draw: st.DrawFn) -> Any:
    """The example config with one value, at any depth, replaced by random data."""
    path = draw(st.sampled_from(_paths(EXAMPLE)))
    return _replaced(EXAMPLE, path, draw(_TREES))


def test_the_example_config_is_valid() -> None:
    validate(EXAMPLE, BridgeConfig)


def _usable_numbers(value: Any, path: str = "") -> list[str]:
    """Where a validated config holds a number the bridge cannot work with."""
    if isinstance(value, Seconds):
        return [] if 0.001 <= value <= 365 * 24 * 3600 else [path]
    if isinstance(value, float):
        usable = math.isfinite(value) and (not value or abs(value) >= sys.float_info.min)
        return [] if usable else [path]
    if isinstance(value, int) and not isinstance(value, bool):
        return [] if -(2**63) <= value < 2**63 else [path]
    if isinstance(value, msgspec.Struct):
        return [
            p
            for name in value.__struct_fields__
            for p in _usable_numbers(getattr(value, name), f"{path}.{name}")
        ]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _usable_numbers(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _usable_numbers(item, f"{path}.{key}")]
    return []


def _check(data: Any) -> None:
    """What ``check-config`` does with ``data``: a config whose numbers are all usable and
    whose drivers can be built, or problems named by key path; never another exception."""
    try:
        config = validate(data, BridgeConfig)
    except ConfigError as err:
        problems = err.problems
    else:
        problems = []
        assert _usable_numbers(config) == []
        try:
            build_device_set(config)
        except DriverError as err:
            problems = [str(err)]
            assert problems[0].startswith("devices: ")
        else:
            return
    assert problems
    assert all(re.match(r"^[^:]+: .", line) for line in problems), problems


@settings(max_examples=500)
@given(_configs())
def test_any_structure_is_a_config_or_named_problems(data: Any) -> None:
    _check(data)


def _key_path(path: tuple[Any, ...]) -> str:
    """``("devices", 1, "interval")`` as a problem names it: ``devices[1].interval``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
    return text


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return re.fullmatch(r"\d+(\.\d+)?(ms|s|m|h)", value) is not None  # a duration
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_at(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


NUMBER_PATHS = [path for path in _paths(EXAMPLE) if _is_number(_value_at(EXAMPLE, path))]
"""Every number and duration in the example, e.g. ``("devices", 0, "simulate", "rate_hz")``."""


@st.composite
def _configs_with_an_extreme_number(draw: st.DrawFn) -> Any:
    """The example config with one value, at any depth (most often a number), replaced by a
    huge or tiny number."""
    path = draw(st.sampled_from(NUMBER_PATHS) | st.sampled_from(_paths(EXAMPLE)))
    return _replaced(EXAMPLE, path, draw(_EXTREME_NUMBERS))


@settings(max_examples=500)
@given(_configs_with_an_extreme_number())
def test_huge_and_tiny_numbers_anywhere_are_a_config_or_named_problems(data: Any) -> None:
    _check(data)


def test_the_example_has_numbers_of_every_kind() -> None:
    """The tests below reach durations, floats and ints, at the top and deep down."""
    names = {path[-1] for path in NUMBER_PATHS}
    assert {"keepalive", "interval", "rate_hz", "seed", "min_value", "scale", "port"} <= names
    assert ("devices", 3, "sensors", 2, "fields", "temp", "scale") in NUMBER_PATHS


HUGE_AND_TINY = [
    10**400,
    -(10**400),
    2**63,
    math.inf,
    -math.inf,
    math.nan,
    5e-324,
    -5e-324,
    sys.float_info.max,
    "9" * 400 + "h",
    "0." + "0" * 400 + "1ms",
]
UNBOUNDED_FLOATS = {"scale", "offset", "min_value", "max_value", "delta"}
"""A linear map's coefficients: any finite float that is not a denormal is one (readings that
come out infinite are dropped and counted, see docs/mqtt.md)."""


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(path, value, id=f"{_key_path(path)}={repr(value)[:12]}")
        for path in NUMBER_PATHS
        for value in HUGE_AND_TINY
        if not (value in (2**63, sys.float_info.max) and path[-1] in UNBOUNDED_FLOATS)
    ],
)
def test_a_huge_or_tiny_number_is_refused_by_its_key_path(
    path: tuple[Any, ...], value: Any
) -> None:
    """No setting takes any of these: each is one problem, named where it is."""
    with pytest.raises(ConfigError) as refused:
        validate(_replaced(EXAMPLE, path, value), BridgeConfig)
    assert len(refused.value.problems) == 1, refused.value.problems
    assert refused.value.problems[0].startswith(f"{_key_path(path)}: "), refused.value.problems


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("1" + "0" * 400, "health.interval: expected a duration from 1ms to 8760h (a year)"),
        ("-1" + "0" * 400, "health.interval: expected a duration greater than 0"),
        ("1.0e+400", "health.interval: expected a duration from 1ms to 8760h (a year)"),  # inf
        (".inf", "health.interval: expected a duration from 1ms to 8760h (a year)"),
        (".nan", "health.interval: expected a duration greater than 0"),
        ("1.0e-400", "health.interval: expected a duration greater than 0"),  # 0.0 in YAML
        ("5.0e-324", "health.interval: expected a duration from 1ms to 8760h (a year)"),
        ("-0.0", "health.interval: expected a duration greater than 0"),
        ("0.5ms", "health.interval: expected a duration from 1ms to 8760h (a year)"),
        ("8761h", "health.interval: expected a duration from 1ms to 8760h (a year)"),
        ("9" * 400 + "h", "health.interval: expected a duration from 1ms to 8760h (a year)"),
        ("0." + "0" * 400 + "1", "health.interval: expected a duration greater than 0"),  # 0.0
        (
            "0." + "0" * 400 + "1s",
            "health.interval: expected a duration from 1ms to 8760h (a year)",
        ),
        ("9" * 5000, "config:1: invalid YAML: a number with too many digits"),
    ],
    ids=lambda text: text[:12],
)
def test_huge_and_tiny_durations_in_yaml_are_named(written: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(f"health: {{interval: {written}}}")
    assert refused.value.problems == [problem]


@pytest.mark.parametrize(
    ("written", "seconds"), [("1ms", 0.001), ("0.001", 0.001), ("8760h", 31_536_000)]
)
def test_the_shortest_and_the_longest_durations_are_taken(written: str, seconds: float) -> None:
    assert parse_config(f"health: {{interval: {written}}}").health.interval == seconds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("commands: {rate: 1" + "0" * 400 + "}", "commands.rate: number out of range"),
        ("commands: {rate: 5.0e-324}", "commands.rate: number out of range"),
        ("spool: {max_readings: 1" + "0" * 400 + "}", "spool.max_readings: expected `int` <= "),
        (
            "devices: [{id: a, simulate: {rate_hz: .nan}}]",
            "devices[0].simulate.rate_hz: expected `float` > 0",
        ),
        (
            "devices: [{id: a, simulate: {seed: -1" + "0" * 400 + "}}]",
            "devices[0].simulate.seed: expected `int` >= -9223372036854775808",
        ),
        (
            "devices: [{id: a, sensors: [{id: s, type: mcp3008, channel: 0, min_value: -.inf}]}]",
            "devices[0].sensors[0].min_value: expected a finite number",
        ),
        (
            "devices: [{id: a, sensors: [{id: s, type: mcp3008, channel: 0, max_value: .nan}]}]",
            "devices[0].sensors[0].max_value: expected a finite number",
        ),
        (
            "devices: [{id: a, sensors: [{id: s, type: serial, port: /dev/x, "
            "protocol: key_value, fields: {t: {scale: 5.0e-324}}}]}]",
            "devices[0].sensors[0].fields.t.scale: number out of range",
        ),
    ],
    ids=lambda text: text[-20:],
)
def test_huge_tiny_and_non_finite_numbers_are_named_for_every_kind_of_number(
    text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(problem), refused.value.problems


def test_a_number_out_of_range_does_not_hide_a_check_across_keys() -> None:
    text = (
        "devices: [{id: a, sensors: [{id: s, type: hcsr04, trigger_pin: 5, echo_pin: 5}], "
        "simulate: {rate_hz: 1, seed: 1" + "0" * 30 + "}}]"
    )
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert refused.value.problems == [
        "devices[0].simulate.seed: expected `int` <= 9223372036854775807",
        "devices[0].sensors[0].echo_pin: must differ from trigger_pin",
    ]


def test_negative_zero_is_zero_where_zero_is_allowed() -> None:
    text = "devices: [{id: a, sensors: [{id: s, type: mcp3008, channel: 0, min_value: -0.0}]}]"
    assert parse_config(text).devices[0].sensors[0].min_value == 0  # type: ignore[union-attr]


def test_a_fleet_slower_than_one_sample_a_year_is_refused_by_name() -> None:
    config = parse_config("devices: [{id: fleet, simulate: {rate_hz: 1.0e-300}}]")
    with pytest.raises(DriverError, match=r"^devices: device 'fleet': simulate.rate_hz 1e-300 "):
        build_device_set(config)
