"""The command handler on its own (every command, every error code, rate limiting, fuzzing),
and its effects reaching the drivers and the spool."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_monitor_bridge.commands import (
    MAX_ID_LENGTH,
    MAX_PAYLOAD_BYTES,
    SETTINGS_META_KEY,
    CommandHandler,
    CommandOutcome,
    DriveOutput,
    ErrorCode,
    PersistSettings,
    SetCommitInterval,
    SetHealthInterval,
    SetSensorInterval,
    TokenBucket,
)
from iot_monitor_bridge.config import BridgeConfig, ConfigError, SpoolConfig, parse_config
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.drivers.onewire import Ds18b20Driver
from iot_monitor_bridge.drivers.schedule import Ticker
from iot_monitor_bridge.drivers.serial import SerialDriver
from iot_monitor_bridge.model import Reading
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.drivers import next_reading, record_faults, running
from tests.support.fake_serial import FakeSerialDevice

CONFIG_YAML = """
bridge: {id: lab-pi}
commands: {rate: 10, burst: 20}
devices:
  - id: fleet
    simulate: {count: 2}
  - id: boiler
    sensors:
      - {id: water_temp, type: ds18b20, address: 28-0316a2794bff, interval: 10s}
      - {id: door, type: gpio_input, pin: 17}
      - {id: dust, type: serial, port: /dev/ttyUSB0, protocol: sds011}
    outputs:
      - {id: fan, type: gpio_output, pin: 27}
"""
WATER_TEMP = ("devices", "boiler", "sensors", "water_temp", "interval")


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG_YAML)


@pytest.fixture
def handler(config: BridgeConfig) -> CommandHandler:
    return CommandHandler(config)


def send(handler: CommandHandler, message: Any) -> dict[str, Any]:
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    outcome = handler.handle(payload, 0.0)
    result: dict[str, Any] = json.loads(outcome.result_payload)
    return result


def error(result: dict[str, Any]) -> tuple[str, str]:
    assert result["ok"] is False, result
    return result["error"]["code"], result["error"]["message"]


def assert_well_formed(outcome: CommandOutcome) -> dict[str, Any]:
    """Exactly the documented shape: id, ok, then result or error with a known code."""
    result = json.loads(outcome.result_payload)
    assert isinstance(result, dict)
    assert result["id"] is None or (
        isinstance(result["id"], str) and 0 < len(result["id"]) <= MAX_ID_LENGTH
    )
    assert result["id"] == outcome.command_id
    if result["ok"] is True:
        assert set(result) == {"id", "ok", "result"}
    else:
        assert result["ok"] is False
        assert set(result) == {"id", "ok", "error"}
        assert set(result["error"]) == {"code", "message"}
        assert result["error"]["code"] in {code.value for code in ErrorCode}
        assert isinstance(result["error"]["message"], str)
        assert outcome.effects == ()
    return result


# ----- the commands ---------------------------------------------------------------------


def test_ping_echoes_the_id(handler: CommandHandler) -> None:
    assert send(handler, {"id": "a-1", "command": "ping"}) == {
        "id": "a-1",
        "ok": True,
        "result": {"pong": True, "bridge": "lab-pi"},
    }
    assert handler.counts == {"ok": 1}


def test_get_config_lists_every_remote_setting(handler: CommandHandler) -> None:
    result = send(handler, {"id": "1", "command": "get_config"})["result"]
    assert result == {
        "settings": {
            "health": {"interval": 15.0},
            "spool": {"commit_interval": 1.0},
            # door (gpio_input) has no interval; the fleet is not a configured sensor.
            "devices": {
                "boiler": {
                    "sensors": {"water_temp": {"interval": 10.0}, "dust": {"interval": 10.0}}
                }
            },
        },
        "overrides": {},
    }


@pytest.mark.parametrize(
    ("state", "on"), [(True, True), (False, False), ("ON", True), ("OFF", False)]
)
def test_set_output_drives_a_configured_output(
    handler: CommandHandler, state: object, on: bool
) -> None:
    command = {"id": "7", "command": "set_output", "device": "boiler", "output": "fan"}
    outcome = handler.handle(json.dumps({**command, "state": state}).encode(), 0.0)
    assert outcome.effects == (DriveOutput("boiler", "fan", on),)
    assert json.loads(outcome.result_payload)["result"] == {
        "device": "boiler",
        "output": "fan",
        "state": on,
    }


@pytest.mark.parametrize(
    ("device", "output"), [("boiler", "pump"), ("fleet", "fan"), ("boiler", "water_temp")]
)
def test_set_output_refuses_outputs_outside_the_config(
    handler: CommandHandler, device: str, output: str
) -> None:
    outcome = handler.handle(
        json.dumps(
            {"id": "7", "command": "set_output", "device": device, "output": output, "state": True}
        ).encode(),
        0.0,
    )
    assert outcome.effects == ()
    code, message = error(json.loads(outcome.result_payload))
    assert code == "not_allowed"
    assert output in message


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"device": "boiler", "output": "fan", "state": "on"}, "state: expected"),
        ({"device": "boiler", "output": "fan", "state": 1}, "state: expected"),
        ({"device": "boiler", "output": "fan", "state": None}, "state: expected"),
        ({"device": "boiler", "output": "fan"}, "state: field required"),
        ({"device": ["boiler"], "output": "fan", "state": True}, "device: expected a string"),
        ({"device": "boiler", "output": "fan", "state": True, "x": 1}, "x: unknown key"),
    ],
)
def test_set_output_with_bad_arguments_is_invalid(
    handler: CommandHandler, args: dict[str, Any], problem: str
) -> None:
    code, message = error(send(handler, {"id": "1", "command": "set_output", **args}))
    assert code == "invalid"
    assert problem in message


def test_set_config_applies_persists_and_reports(handler: CommandHandler) -> None:
    outcome = handler.handle(
        json.dumps(
            {
                "id": "c1",
                "command": "set_config",
                "settings": {
                    "devices": {"boiler": {"sensors": {"water_temp": {"interval": "2.5s"}}}},
                    "health": {"interval": "1m"},
                    "spool": {"commit_interval": 3},
                },
            }
        ).encode(),
        0.0,
    )
    stored = {
        "devices": {"boiler": {"sensors": {"water_temp": {"interval": 2.5}}}},
        "health": {"interval": 60.0},
        "spool": {"commit_interval": 3.0},
    }
    assert outcome.effects == (
        SetHealthInterval(60.0),
        SetCommitInterval(3.0),
        SetSensorInterval("boiler", "water_temp", 2.5),
        PersistSettings(SETTINGS_META_KEY, json.dumps(stored, separators=(",", ":"))),
    )
    result = json.loads(outcome.result_payload)["result"]
    assert result["settings"]["devices"]["boiler"]["sensors"]["water_temp"] == {"interval": 2.5}
    assert result["settings"]["health"] == {"interval": 60.0}
    assert result["overrides"] == stored
    assert sorted(result["changed"]) == [
        "devices.boiler.sensors.water_temp.interval",
        "health.interval",
        "spool.commit_interval",
    ]
    assert handler.config.devices[1].sensors[0].interval == 2.5  # type: ignore[union-attr]
    assert handler.config.health.interval == 60.0
    assert handler.config.spool.commit_interval == 3.0
    # A later get_config reports the same.
    assert send(handler, {"id": "g", "command": "get_config"})["result"]["overrides"] == stored


def test_set_config_null_goes_back_to_the_file(handler: CommandHandler) -> None:
    settings = {"devices": {"boiler": {"sensors": {"water_temp": {"interval": 3}}}}}
    send(handler, {"id": "1", "command": "set_config", "settings": settings})
    reset = {"devices": {"boiler": {"sensors": {"water_temp": {"interval": None}}}}}
    outcome = handler.handle(
        json.dumps({"id": "2", "command": "set_config", "settings": reset}).encode(), 0.0
    )
    assert outcome.effects == (
        SetSensorInterval("boiler", "water_temp", 10.0),
        PersistSettings(SETTINGS_META_KEY, "{}"),
    )
    assert handler.overrides == {}


def test_set_config_with_nothing_new_changes_nothing(handler: CommandHandler) -> None:
    outcome = handler.handle(b'{"id": "1", "command": "set_config", "settings": {}}', 0.0)
    assert outcome.effects == ()
    assert json.loads(outcome.result_payload)["result"]["changed"] == []


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        '"fast"',
        '"10 parsecs"',
        "true",
        "[]",
        "{}",
        "1e999",
        '"0s"',
        "1" + "0" * 400,  # an int of 401 digits
        "-1" + "0" * 400,
        "1.0e+400",  # infinity in JSON and in YAML
        "1.0e-400",  # 0.0 in JSON and in YAML
        "5.0e-324",
        "-0.0",
        "1.7976931348623157e+308",
        '"' + "9" * 400 + 'h"',
        '"0.5ms"',
    ],
    ids=lambda value: value[:12],
)
def test_set_config_refuses_what_the_file_refuses_in_the_same_words(
    handler: CommandHandler, value: str
) -> None:
    """The message after the key path is the one ``check-config`` prints for the file.

    ``value`` is JSON text (``1e999`` parses as infinity, like YAML's ``.inf``).
    """
    command = json.dumps(
        {
            "id": "1",
            "command": "set_config",
            "settings": {"devices": {"boiler": {"sensors": {"water_temp": {"interval": "V"}}}}},
        }
    )
    outcome = handler.handle(command.replace('"V"', value).encode(), 0.0)
    assert outcome.effects == ()
    code, message = error(json.loads(outcome.result_payload))
    assert code == "invalid"
    prefix = "settings.devices.boiler.sensors.water_temp.interval: "
    assert message.startswith(prefix)
    in_file = CONFIG_YAML.replace("interval: 10s", f"interval: {value}")
    with pytest.raises(ConfigError) as refused:
        parse_config(in_file.replace("1e999", ".inf"))
    assert refused.value.problems == [
        "devices[1].sensors[0].interval: " + message.removeprefix(prefix)
    ]
    assert handler.overrides == {}


@pytest.mark.parametrize(
    "interval",
    [10**400, -(10**400), 5e-324, -0.0, 1e-400, 1e308, "9" * 400 + "s", "0." + "0" * 400 + "1s"],
    ids=lambda value: repr(value)[:12],
)
def test_set_config_with_a_huge_or_tiny_number_is_invalid_not_failed(
    handler: CommandHandler, interval: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/mqtt.md: a value out of range is ``invalid``, named by its key path; nothing
    changes and no traceback is logged."""
    settings = {"health": {"interval": interval}, "spool": {"commit_interval": 2}}
    with caplog.at_level(logging.DEBUG):
        outcome = handler.handle(
            json.dumps({"id": "x", "command": "set_config", "settings": settings}).encode(), 0.0
        )
    code, message = error(json.loads(outcome.result_payload))
    assert code == "invalid"
    assert message.startswith("settings.health.interval: expected a duration "), message
    assert outcome.effects == ()
    assert handler.overrides == {}
    assert not [record for record in caplog.records if record.exc_info]


def test_a_401_digit_interval_gets_invalid_in_the_documented_words(
    handler: CommandHandler,
) -> None:
    payload = b'{"id":"x","command":"set_config","settings":{"health":{"interval": 1%s}}}' % (
        b"0" * 400
    )
    assert json.loads(handler.handle(payload, 0.0).result_payload) == {
        "id": "x",
        "ok": False,
        "error": {
            "code": "invalid",
            "message": "settings.health.interval: expected a duration from 1ms to 8760h (a year)",
        },
    }


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"devices": {"cellar": {}}}, "settings.devices.cellar: unknown key; expected one of: "),
        (
            {"devices": {"boiler": {"sensors": {"door": {"interval": 5}}}}},
            "settings.devices.boiler.sensors.door: unknown key",
        ),
        ({"mqtt": {"password": "x"}}, "settings.mqtt: unknown key"),
        ({"health": {"disk_path": "/"}}, "settings.health.disk_path: unknown key"),
        ({"health": 5}, "settings.health: expected an object"),
        ([], "settings: expected a JSON object"),
    ],
)
def test_set_config_refuses_settings_that_cannot_be_changed_remotely(
    handler: CommandHandler, settings: Any, problem: str
) -> None:
    code, message = error(send(handler, {"id": "1", "command": "set_config", "settings": settings}))
    assert code == "invalid"
    assert message.startswith(problem)


def test_set_config_is_all_or_nothing(handler: CommandHandler) -> None:
    settings = {"health": {"interval": 30}, "spool": {"commit_interval": -1}}
    code, message = error(send(handler, {"id": "1", "command": "set_config", "settings": settings}))
    assert (code, message) == (
        "invalid",
        "settings.spool.commit_interval: expected a duration greater than 0",
    )
    assert handler.config.health.interval == 15.0


def test_restore_applies_persisted_overrides_over_the_file(config: BridgeConfig) -> None:
    first = CommandHandler(config)
    settings = {
        "health": {"interval": 30},
        "devices": {"boiler": {"sensors": {"dust": {"interval": 4}}}},
    }
    persisted = [
        effect
        for effect in first.handle(
            json.dumps({"id": "1", "command": "set_config", "settings": settings}).encode(), 0.0
        ).effects
        if isinstance(effect, PersistSettings)
    ]
    restarted = CommandHandler(config)
    effects = restarted.restore(persisted[0].value)
    assert effects == (SetHealthInterval(30.0), SetSensorInterval("boiler", "dust", 4.0))
    assert restarted.config == first.config
    assert restarted.overrides == first.overrides


def test_restore_drops_what_the_file_no_longer_allows(
    config: BridgeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    stored = json.dumps(
        {
            "health": {"interval": 30},
            "devices": {
                "boiler": {"sensors": {"gone": {"interval": 4}, "water_temp": {"interval": 0}}}
            },
        }
    )
    handler = CommandHandler(config)
    with caplog.at_level(logging.WARNING):
        effects = handler.restore(stored)
    assert effects == (
        SetHealthInterval(30.0),
        PersistSettings(SETTINGS_META_KEY, '{"health":{"interval":30.0}}'),
    )
    warnings = [r.getMessage() for r in caplog.records]
    assert any("settings.devices.boiler.sensors.gone: unknown key" in w for w in warnings)
    assert any("water_temp.interval: expected a duration greater than 0" in w for w in warnings)


@pytest.mark.parametrize("stored", [None, "", "not json", "[1, 2]"])
def test_restore_of_nothing_or_garbage_keeps_the_file(
    config: BridgeConfig, stored: str | None
) -> None:
    handler = CommandHandler(config)
    effects = handler.restore(stored)
    assert handler.config == config
    assert all(isinstance(effect, PersistSettings) for effect in effects)


# ----- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code", "command_id"),
    [
        (b"", "bad_json", None),
        (b"{", "bad_json", None),
        (b"\xff\xfe\x00garbage", "bad_json", None),
        (b'{"id": "1", "command": "ping", "n": NaN}', "bad_json", None),
        (b"9" * 5000, "bad_json", None),
        (b"[1]", "invalid", None),
        (b'"ping"', "invalid", None),
        (b'{"command": "ping"}', "invalid", None),
        (b'{"id": 5, "command": "ping"}', "invalid", None),
        (b'{"id": "", "command": "ping"}', "invalid", None),
        (json.dumps({"id": "x" * 65, "command": "ping"}).encode(), "invalid", None),
        (b'{"id": "1"}', "invalid", "1"),
        (b'{"id": "1", "command": 3}', "invalid", "1"),
        (b'{"id": "1", "command": "ping", "extra": true}', "invalid", "1"),
        (b'{"id": "1", "command": "reboot"}', "unknown_command", "1"),
        (b'{"id": "1", "command": "__init__"}', "unknown_command", "1"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_bad_payloads_get_one_error_result(
    handler: CommandHandler, payload: bytes, code: str, command_id: str | None
) -> None:
    outcome = handler.handle(payload, 0.0)
    result = assert_well_formed(outcome)
    assert result["id"] == command_id
    assert error(result)[0] == code
    assert handler.counts == {"error": 1}


@pytest.mark.parametrize("depth", [100, 1000, 8000])
def test_deep_nesting_is_an_error_not_a_crash(handler: CommandHandler, depth: int) -> None:
    """Python 3.11 gives up on deep JSON (bad_json), 3.14 parses it (not an object)."""
    result = assert_well_formed(handler.handle(b"[" * depth + b"]" * depth, 0.0))
    assert error(result)[0] in {"bad_json", "invalid"}


def test_oversized_payloads_are_refused_unread(handler: CommandHandler) -> None:
    padding = MAX_PAYLOAD_BYTES - len(b'{"id":"1","command":"ping","":""}')
    fits = json.dumps({"id": "1", "command": "ping", "": "x" * padding}, separators=(",", ":"))
    assert len(fits) == MAX_PAYLOAD_BYTES
    assert error(send(handler, fits.encode()))[0] == "invalid"  # parsed: unknown key ""
    result = send(handler, fits.encode() + b" ")
    assert result["id"] is None  # the id is not even looked for
    assert error(result) == (
        "too_large",
        f"payload of {MAX_PAYLOAD_BYTES + 1} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
    )


def test_rate_limit_answers_rate_limited_then_recovers(handler: CommandHandler) -> None:
    ping = b'{"id": "p", "command": "ping"}'
    results = [json.loads(handler.handle(ping, 100.0).result_payload) for _ in range(25)]
    assert [r["ok"] for r in results] == [True] * 20 + [False] * 5  # burst 20
    assert all(error(r)[0] == "rate_limited" and r["id"] == "p" for r in results[20:])
    assert handler.counts == {"ok": 20, "rate_limited": 5}
    assert json.loads(handler.handle(ping, 100.05).result_payload)["ok"] is False
    assert json.loads(handler.handle(ping, 100.2).result_payload)["ok"] is True  # 10/s


def test_token_bucket_refills_at_rate_and_ignores_a_clock_going_back() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(10.4) is False
    assert bucket.take(10.5) is True  # 0.5 s at 2/s is one token
    assert bucket.take(5.0) is False  # back in time: nothing refilled
    assert bucket.take(5.5) is True  # refills from the new reference
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_failed_effects_turn_the_result_into_a_failure(handler: CommandHandler) -> None:
    outcome = handler.handle(
        b'{"id": "9", "command": "set_output", "device": "boiler", "output": "fan", "state": true}',
        0.0,
    )
    payload = handler.failed(outcome, "boiler/fan: [Errno 5] Input/output error")
    assert json.loads(payload) == {
        "id": "9",
        "ok": False,
        "error": {"code": "failed", "message": "boiler/fan: [Errno 5] Input/output error"},
    }
    assert handler.counts == {"ok": 0, "error": 1}


def test_errors_are_logged_once_per_burst_without_the_payload(
    handler: CommandHandler, caplog: pytest.LogCaptureFixture
) -> None:
    secret = b'{"id": "1", "command": "set_config", "password": "hunter2", "settings": '
    with caplog.at_level(logging.WARNING):
        for n in range(100):
            handler.handle(secret + b"{", float(n))
    assert handler.counts == {"error": 100}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "bad_json" in lines[0]
    assert "hunter2" not in caplog.text


def test_the_file_refuses_booleans_and_infinity_as_durations() -> None:
    for value in ("true", ".inf", ".nan"):
        with pytest.raises(ConfigError) as refused:
            parse_config(f"health: {{interval: {value}}}")
        assert refused.value.problems[0].startswith("health.interval: ")


# ----- fuzzing: whatever arrives, exactly one well-formed result, never an exception --------

huge_and_tiny = (
    st.integers(min_value=10**200, max_value=10**450)
    | st.integers(min_value=-(10**450), max_value=-(10**200))
    | st.floats(min_value=-1e-300, max_value=1e-300)  # denormals and zeros among them
    | st.floats(min_value=1e300)  # up to the largest float and infinity
    | st.sampled_from([5e-324, -0.0, sys.float_info.max, "9" * 400 + "s", "0." + "0" * 400 + "1s"])
)
"""Numbers no float holds (ints of hundreds of digits), floats near 0 and near the largest,
infinity (``json.dumps`` writes ``Infinity``: ``bad_json``, and ``1e999``), duration text."""
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | huge_and_tiny,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
command_names = st.sampled_from(["ping", "get_config", "set_config", "set_output", "nope"])
setting_keys = st.sampled_from(
    ["devices", "boiler", "sensors", "water_temp", "dust", "door", "interval", "health", "spool"]
)
settings_like = st.recursive(
    json_values | huge_and_tiny | st.sampled_from(["5s", "500ms", 0.001, 1e308, -0.0, "ON"]),
    lambda children: st.dictionaries(setting_keys, children, max_size=3),
    max_leaves=12,
)
commands = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=70) | json_values, "command": command_names | json_values},
    optional={
        "device": st.sampled_from(["boiler", "fleet"]) | json_values,
        "output": st.sampled_from(["fan", "water_temp"]) | json_values,
        "state": st.sampled_from([True, False, "ON", "OFF", "on"]) | json_values,
        "settings": settings_like,
        "extra": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(payload: bytes) -> None:
    assert_not_failed(assert_well_formed(CommandHandler(BridgeConfig()).handle(payload, 0.0)))


def assert_not_failed(result: dict[str, Any]) -> None:
    """Nothing is carried out here (effects are applied by the runtime), so ``failed`` can
    only be the handler's own ``internal error``."""
    assert result["ok"] or result["error"]["code"] != "failed", result


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_fuzz_arbitrary_json(value: Any) -> None:
    payload = json.dumps(value).encode()  # NaN and Infinity included: not JSON, bad_json
    assert_not_failed(assert_well_formed(CommandHandler(BridgeConfig()).handle(payload, 0.0)))


@settings(max_examples=500, deadline=None)
@given(command=commands, cut=st.integers(min_value=0, max_value=40))
def test_fuzz_command_shaped_messages(command: dict[str, Any], cut: int) -> None:
    handler = CommandHandler(parse_config(CONFIG_YAML))
    payload = json.dumps(command).encode()
    for variant in (payload, payload[: len(payload) - cut]):  # whole, and truncated
        before = handler.config
        outcome = handler.handle(variant, 0.0)
        result = assert_well_formed(outcome)
        assert_not_failed(result)
        if result["ok"] is False or command.get("command") != "set_config":
            assert handler.config == before  # only a successful set_config changes settings
        if result["ok"] and command.get("command") == "set_output":
            assert outcome.effects == (
                DriveOutput(command["device"], command["output"], result["result"]["state"]),
            )


SETTING_PATHS = [
    ("health", "interval"),
    ("spool", "commit_interval"),
    WATER_TEMP,
    ("devices", "boiler", "sensors", "dust", "interval"),
]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.tuples(st.sampled_from(SETTING_PATHS), huge_and_tiny | json_values),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_every_remote_setting_with_huge_and_tiny_numbers(
    values: list[tuple[tuple[str, ...], Any]],
) -> None:
    """Each setting, at its depth, gets a number of hundreds of digits, a denormal, the
    largest float, infinity...: ``invalid`` naming the setting, or applied if in range."""
    handler = CommandHandler(parse_config(CONFIG_YAML))
    settings: dict[str, Any] = {}
    for path, value in values:
        node = settings
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    text = json.dumps({"id": "1", "command": "set_config", "settings": settings})
    result = assert_well_formed(handler.handle(text.encode(), 0.0))
    assert_not_failed(result)
    if result["ok"]:
        for value in _leaves(result["result"]["settings"]):
            assert 0.001 <= value <= 365 * 24 * 3600
    elif result["error"]["code"] == "invalid":
        named = {"settings." + ".".join(path) for path, _ in values}
        problems = result["error"]["message"].split("; ")
        assert all(problem.split(": ")[0] in named for problem in problems), problems


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    return [node]


# ----- the effects reach the drivers and the spool -----------------------------------------------

W1_SLAVE = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


async def test_a_shorter_interval_ends_a_long_wait_at_once() -> None:
    ticker = Ticker(3600.0)
    await ticker.wait()  # the first tick is due at once
    pending = asyncio.create_task(ticker.wait())
    await asyncio.sleep(0)  # let it start waiting out the hour
    ticker.set_interval(0.01)
    await asyncio.wait_for(pending, 2)
    started = asyncio.get_running_loop().time()
    ticker.set_interval(0.2)
    await ticker.wait()
    assert 0.1 < asyncio.get_running_loop().time() - started < 1.0


async def test_a_longer_interval_moves_the_pending_deadline() -> None:
    ticker = Ticker(0.05)
    await ticker.wait()
    ticker.set_interval(3600.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ticker.wait(), 0.3)


async def test_set_interval_reaches_a_running_1wire_driver(tmp_path: Path) -> None:
    (tmp_path / "28-0316a2794bff").mkdir()
    (tmp_path / "28-0316a2794bff" / "w1_slave").write_text(W1_SLAVE)
    config = parse_config(
        CONFIG_YAML.replace("interval: 10s", f"w1_root: {tmp_path}, interval: 1h")
    )
    driver = build_device_set(config).configured[("boiler", "water_temp")]
    assert isinstance(driver, Ds18b20Driver)
    async with running(driver) as readings:
        assert (await next_reading(readings)).value == 23.125  # at once, then an hour later
        driver.set_interval(0.01)
        for _ in range(3):
            assert (await next_reading(readings, within_s=2)).value == 23.125


async def test_set_interval_reaches_a_serial_driver_in_its_thread(tmp_path: Path) -> None:
    """The serial driver's interval is its longest silence before a timeout fault."""
    fake = FakeSerialDevice()
    try:
        config = parse_config(
            CONFIG_YAML.replace("/dev/ttyUSB0", fake.path).replace(
                "sds011}", "sds011, interval: 1h}"
            )
        )
        driver = build_device_set(config).configured[("boiler", "dust")]
        assert isinstance(driver, SerialDriver)
        faults = record_faults(driver)
        async with running(driver):
            driver.set_interval(0.05)
            await faults.wait_for("timeout", 3, within=5)
    finally:
        fake.close()


def test_the_driver_of_each_configured_sensor_is_known(config: BridgeConfig) -> None:
    device_set = build_device_set(config)
    assert set(device_set.configured) == {
        ("boiler", "water_temp"),
        ("boiler", "door"),
        ("boiler", "dust"),
    }
    assert [device_set.configured[("boiler", s)].interval for s in ("water_temp", "dust")] == [
        10.0,
        10.0,
    ]
    assert device_set.configured[("boiler", "door")].interval is None  # event driven


def test_commit_interval_changes_the_commit_policy(tmp_path: Path) -> None:
    clock = [1000.0]
    spool = Spool(tmp_path / "spool.db", SpoolConfig(commit_interval=60), clock=lambda: clock[0])
    try:
        spool.append(Reading("boiler", "water_temp", 21.5, 1_000_000))
        clock[0] += 5
        assert not spool.commit_due()
        spool.set_commit_interval(2.0)
        assert spool.commit_due()
    finally:
        spool.close()
