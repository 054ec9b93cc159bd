"""The command line: exit codes, problems named by key path, no tracebacks, the summary."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from iot_monitor_bridge import __version__
from iot_monitor_bridge.cli import JournalFormatter, main, setup_logging
from tests.support.cli import run_cli

BAD_CONFIG = """\
mqtt: {brokers: [{host: 127.0.0.1, port: 70000}]}
devices:
  - {id: fleet, simulate: {}}
  - id: boiler
    sensors:
      - {id: door, type: gpio_input}
"""
GOOD_CONFIG = """\
bridge: {id: kitchen-pi, name: Kitchen Pi}
mqtt:
  brokers: [{host: 10.0.0.2}, {host: 10.0.0.3, port: 1884}]
state_dir: {state_dir}
devices:
  - {id: fleet, simulate: {count: 3}}
  - id: boiler
    sensors:
      - {id: door, type: gpio_input, pin: 17, device_class: door}
    outputs:
      - {id: fan, type: gpio_output, pin: 27}
"""
PROBLEMS = [
    "mqtt.brokers[0].port: expected `int` <= 65535",
    "devices[1].sensors[0].pin: field required",
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(text.replace("{state_dir}", str(tmp_path / "state")))
    path.chmod(0o640)
    return path


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_bad_config_exits_2_with_one_line_per_problem_and_no_traceback(
    tmp_path: Path, command: str
) -> None:
    path = _write(tmp_path, BAD_CONFIG)
    result = run_cli(command, path, timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines() == PROBLEMS
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "health: {interval: 1" + "0" * 400 + "}\n",  # a 401-digit int: no float holds it
            ["health.interval: expected a duration from 1ms to 8760h (a year)"],
        ),
        (
            "health: {interval: 5.0e-324}\nspool: {max_age: .inf}\n"
            "commands: {rate: 1" + "0" * 400 + "}\n",
            [
                "health.interval: expected a duration from 1ms to 8760h (a year)",
                "spool.max_age: expected a duration from 1ms to 8760h (a year)",
                "commands.rate: number out of range",
            ],
        ),
        (
            "devices:\n  - {id: fleet, simulate: {seed: 1" + "0" * 400 + "}}\n",
            ["devices[0].simulate.seed: expected `int` <= 9223372036854775807"],
        ),
        (
            "devices:\n  - {id: fleet, simulate: {rate_hz: 1.0e-300}}\n",
            ["devices: device 'fleet': simulate.rate_hz 1e-300 is less than one sample a year"],
        ),
        (
            "health:\n  interval: " + "9" * 5000 + "\n",  # beyond what Python reads as an int
            ["{path}:2: invalid YAML: a number with too many digits"],
        ),
    ],
    ids=["401-digit-duration", "several", "huge-seed", "tiny-rate", "5000-digits"],
)
def test_huge_and_tiny_numbers_exit_2_naming_the_key_without_traceback(
    tmp_path: Path, text: str, problems: list[str]
) -> None:
    path = _write(tmp_path, text)
    result = run_cli("check-config", path, timeout=30)
    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [line.format(path=path) for line in problems]


def test_check_config_summarises_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD_CONFIG)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok"
    assert "  bridge: kitchen-pi (Kitchen Pi)" in out
    assert "  broker: 10.0.0.2:1883 (primary)" in out
    assert "  broker: 10.0.0.3:1884 (failover)" in out
    assert "  device: fleet_1 (Fleet 1): 5 sensors" in out
    assert "  device: boiler (Boiler): 1 sensors, 1 outputs" in out
    assert any(line.startswith("  device: bridge (Kitchen Pi): ") for line in out)
    assert out[-1].startswith("  total: 5 devices, ")  # bridge, 3 simulated, boiler
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no state dir, no spool


def test_check_config_lists_machines_and_their_devices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = Path(__file__).resolve().parents[2] / "bridge" / "examples" / "vending.yaml"
    assert main(["check-config", "--config", str(example)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "  machine: vending (vending machine, 6 states)"
    assert "  device: vending_machine (Vending machine): 13 sensors" in out
    assert not any("warning" in line for line in out)


@pytest.mark.parametrize(
    ("devices", "problem"),
    [
        (
            "[{id: fleet, simulate: {count: 2}}, {id: fleet_2, outputs: [{id: fan, "
            "type: gpio_output, pin: 27}]}]",
            "devices: two devices have the id 'fleet_2'",
        ),
        (
            "[{id: air, sensors: [{id: dust, type: serial, port: /dev/ttyUSB0, protocol: sds011},"
            " {id: dust_pm10, type: ds18b20, address: 28-0000075a1b2c}]}]",
            "devices: device 'air' has two sensors or outputs with the id 'dust_pm10'",
        ),
    ],
    ids=["fleet-device", "serial-value"],
)
def test_ids_that_drivers_derive_may_not_clash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], devices: str, problem: str
) -> None:
    path = _write(tmp_path, f"devices: {devices}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(problem)
    assert captured.out == ""


def test_missing_config_file_is_a_config_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["check-config", "--config", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"{missing}: cannot read:")


def test_password_readable_by_everyone_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cret-Pa55"
    path = _write(tmp_path, f"mqtt: {{username: pi, password: {secret}}}\n")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "readable by every user" not in capsys.readouterr().err  # 0640: fine
    path.chmod(0o644)
    assert main(["check-config", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "holds the MQTT password and is readable by every user" in captured.err
    assert secret not in captured.err + captured.out


def test_unusable_state_dir_exits_1_without_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = _write(
        tmp_path,
        f"state_dir: {blocker / 'state'}\nzeroconf: {{enabled: false}}\n"
        "http: {enabled: false}\nmqtt: {brokers: [{host: 127.0.0.1, port: 1}]}\n",
    )
    result = run_cli("run", path, timeout=30)
    assert result.returncode == 1
    assert "Cannot start" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"iot-monitor-bridge {__version__}"


def test_journal_lines_carry_the_level_for_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    record = logging.LogRecord(
        "iot_monitor_bridge.x", logging.WARNING, "", 0, "hi %s", ("a",), None
    )
    assert (
        JournalFormatter("%(name)s: %(message)s").format(record) == "<4>iot_monitor_bridge.x: hi a"
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
        setup_logging("debug")
        assert isinstance(root.handlers[0].formatter, JournalFormatter)
        assert root.level == logging.DEBUG
        monkeypatch.delenv("JOURNAL_STREAM")
        setup_logging("warning")
        assert not isinstance(root.handlers[0].formatter, JournalFormatter)
        line = root.handlers[0].format(record)
        assert line.endswith(" WARNING iot_monitor_bridge.x: hi a")  # after a timestamp
        assert not line.startswith("<")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


PLAIN_MACHINE = """
bridge: {id: lab-pi}
mqtt: {brokers: [{host: 127.0.0.1}]}
machines:
  - id: door
    initial: closed
    states: {closed: , open: }
    transitions:
      - {event: opened, from: closed, to: open}
      - {event: closed, from: open, to: closed}
    commands: [opened, closed]
"""


def test_check_config_lists_a_plain_machine_and_its_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, PLAIN_MACHINE)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  device: door_machine (Door): 2 sensors" in out  # its state and transitions
    assert out[-1] == "  machine: door (state machine, 2 states)"
    assert not any("warning" in line for line in out)
