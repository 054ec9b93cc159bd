"""Configuration validation: every problem named by its key path, defaults as documented."""

from __future__ import annotations

import pytest

from iot_monitor_bridge.config import ConfigError, parse_config


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
        ("http: {port: 70000}", "http.port: expected `int` <= 65535"),
        ("mqtt: {brokers: []}", "mqtt.brokers: expected `array` of length >= 1"),
        ("bogus: 1", "bogus: unknown key"),
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
