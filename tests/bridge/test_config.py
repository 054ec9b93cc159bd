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
            "devices[0].sensors[0]: unknown type",
        ),
        ("devices: [{id: b, sensors: [{id: x}]}]", "devices[0].sensors[0].type: field required"),
        ("http: {port: 70000}", "http.port: input should be less than or equal to 65535"),
        ("mqtt: {brokers: []}", "mqtt.brokers: list should have at least 1 item"),
        ("bogus: 1", "bogus: unknown key"),
        ("devices: [{id: Bad/Id, simulate: {}}]", "devices[0].id: string should match pattern"),
        ("devices: [{id: bridge, simulate: {}}]", "devices[0].id: 'bridge' is reserved"),
        ("bridge: {id: kitchen_pi}", "bridge.id: string should match pattern"),
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
