"""Configuration validation: every problem named by its key path, defaults as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_monitor_bridge.config import BridgeConfig, ConfigError, parse_config, validate


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
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | _KEYS
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


@settings(max_examples=500)
@given(_configs())
def test_any_structure_is_a_config_or_named_problems(data: Any) -> None:
    try:
        validate(data, BridgeConfig)
    except ConfigError as err:
        problems = err.problems
    else:
        return
    assert problems
    assert all(": " in line for line in problems), problems
