"""scripts/install-bridge against stand-ins for the system commands it uses.

Each system command (apt-get, adduser, systemctl, ...) is replaced by a stub on PATH that
records its call and answers from the test's idea of the system (which packages, users,
groups exist). Dry runs must plan the right actions and call nothing that changes state;
a real run must make the same calls in order and write the unit.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import pytest

from iot_monitor_bridge.config import OutputConfig, SensorConfig, load_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/install-bridge"
EXAMPLE = REPO / "bridge/examples/bridge.yaml"
UNIT = REPO / "bridge/systemd/iot-monitor-bridge.service"
SERVICE = "iot-monitor-bridge.service"

QUERIES = {"dpkg-query", "id", "getent", "python3 -c", "systemctl is-active"}
"""Calls that only look at the system; anything else recorded changes it."""

STUB = r"""#!/usr/bin/env bash
name=$(basename "$0")
printf '%s\n' "$name $*" >>"$STUB_LOG"
has() { [[ " $1 " == *" $2 "* ]]; }
case $name in
  dpkg-query) has "$FAKE_PACKAGES" "${!#}" && printf 'install ok installed' && exit 0; exit 1 ;;
  getent) has "$FAKE_GROUPS" "$2"; exit ;;
  id)
    if [ $# = 1 ]; then echo "$FAKE_UID"; exit 0; fi
    [ -n "$FAKE_USER_GROUPS" ] || exit 1
    if [ "$1" = -nG ]; then echo "$FAKE_USER_GROUPS"; fi
    exit 0 ;;
  python3) [ "$1" = -c ] && exec "$REAL_PYTHON" "$@"; exit 0 ;;
  systemctl) [ "$1" = is-active ] && { [ "$FAKE_ACTIVE" = 1 ]; exit; }; exit 0 ;;
  runuser) exit "$FAKE_CHECK_RC" ;;
  *) exit 0 ;;
esac
"""
STUBBED = [
    "apt-get",
    "adduser",
    "groupadd",
    "dpkg-query",
    "getent",
    "id",
    "install",
    "python3",
    "runuser",
    "systemctl",
]


@dataclass
class FakeSystem:
    """What the stubs report, and where the script may write."""

    root: Path
    packages: str = "python3-venv"
    groups: str = "gpio dialout spi"
    user_groups: str = ""  # empty: the user does not exist
    active: bool = False
    check_rc: int = 0
    uid: int = 0
    calls: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> Path:
        return self.root / "opt"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def unit_dir(self) -> Path:
        return self.root / "units"

    def __post_init__(self) -> None:
        self.unit_dir.mkdir()  # /etc/systemd/system exists on every systemd machine
        self.stub.parent.mkdir()
        self.stub.write_text(STUB)
        self.stub.chmod(0o755)
        for name in STUBBED:
            (self.stub.parent / name).symlink_to(self.stub)

    def make_venv(self) -> None:
        """An existing virtual environment whose python is a recording stub."""
        (self.prefix / "venv/bin").mkdir(parents=True)
        (self.prefix / "venv/bin/python").symlink_to(self.stub)

    @property
    def stub(self) -> Path:
        return self.root / "bin/stub"

    def run(self, *args: str) -> Result:
        log = self.root / "calls.log"
        log.write_text("")
        env = {
            "PATH": f"{self.stub.parent}:{os.environ['PATH']}",
            "STUB_LOG": str(log),
            "REAL_PYTHON": shutil.which("python3") or sys.executable,
            "FAKE_PACKAGES": self.packages,
            "FAKE_GROUPS": self.groups,
            "FAKE_USER_GROUPS": self.user_groups,
            "FAKE_ACTIVE": "1" if self.active else "0",
            "FAKE_CHECK_RC": str(self.check_rc),
            "FAKE_UID": str(self.uid),
            "IOT_MONITOR_CONFIG_DIR": str(self.config_dir),
            "IOT_MONITOR_UNIT_DIR": str(self.unit_dir),
        }
        done = subprocess.run(
            ["bash", str(SCRIPT), "--prefix", str(self.prefix), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        self.calls = log.read_text().splitlines()
        return Result(done.returncode, done.stdout, done.stderr)

    def changes(self) -> list[str]:
        """Recorded calls other than queries."""
        return [c for c in self.calls if not any(c.startswith(q) for q in QUERIES)]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def actions(self) -> list[list[str]]:
        """The planned or performed actions: the ``+ command`` lines, split like a shell."""
        return [shlex.split(line[2:]) for line in self.stdout.splitlines() if line.startswith("+ ")]


@pytest.fixture
def system(tmp_path: Path) -> FakeSystem:
    if str(tmp_path).startswith(("/home/", "/root/", "/run/user/")):
        pytest.skip("the script refuses prefixes under home directories; set TMPDIR elsewhere")
    return FakeSystem(tmp_path)


@pytest.fixture
def my_config(tmp_path: Path) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text("bridge:\n  id: shed\ndevices:\n  - id: fleet\n    simulate: {count: 1}\n")
    return path


def sh(line: str) -> list[str]:
    return shlex.split(line)


def pip_action(system: FakeSystem, source: Path = REPO / "bridge") -> list[str]:
    return sh(
        f"env PIP_ROOT_USER_ACTION=ignore {system.prefix}/venv/bin/python -m pip install"
        f" --upgrade --disable-pip-version-check --no-input"
        f" --constraint {REPO}/requirements/bridge.txt {source}"
    )


def check_config_action(system: FakeSystem) -> list[str]:
    return sh(
        f"runuser -u iot-monitor -- {system.prefix}/venv/bin/iot-monitor-bridge"
        f" check-config --config {system.config_dir}/bridge.yaml"
    )


def test_dry_run_on_a_fresh_pi_plans_everything_and_changes_nothing(
    system: FakeSystem, my_config: Path
) -> None:
    result = system.run("--dry-run", "--config", str(my_config))
    assert result.returncode == 0, result.stderr
    assert result.actions == [
        sh("apt-get update"),
        sh(
            "env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
            " python3-lgpio"
        ),
        sh(
            "adduser --system --group --home /var/lib/iot-monitor --no-create-home"
            " --gecos 'iot-monitor bridge' iot-monitor"
        ),
        sh("adduser iot-monitor gpio"),
        sh("adduser iot-monitor dialout"),
        sh("adduser iot-monitor spi"),
        sh("groupadd --system i2c"),
        sh("adduser iot-monitor i2c"),
        sh(f"python3 -m venv --system-site-packages {system.prefix}/venv"),
        pip_action(system),
        sh(f"install -d -m 0750 -o root -g iot-monitor {system.config_dir}"),
        sh(f"install -m 0640 -o root -g iot-monitor {my_config} {system.config_dir}/bridge.yaml"),
        sh(f"write {system.unit_dir}/{SERVICE} '(mode' '0644)'"),
        sh("systemctl daemon-reload"),
        check_config_action(system),
        sh(f"systemctl enable --now {SERVICE}"),
    ]
    assert system.changes() == []
    assert sorted(p.name for p in system.root.iterdir()) == [
        "bin",
        "calls.log",
        "mine.yaml",
        "units",
    ]
    assert list(system.unit_dir.iterdir()) == []


def test_dry_run_on_an_installed_pi_only_upgrades_and_restarts(
    system: FakeSystem, my_config: Path
) -> None:
    system.packages = "python3-venv python3-lgpio"
    system.groups = "gpio dialout spi i2c"
    system.user_groups = "iot-monitor gpio dialout spi i2c"
    system.active = True
    system.make_venv()
    system.config_dir.mkdir()
    existing = system.config_dir / "bridge.yaml"
    existing.write_text("bridge: {id: kept}\n")
    rendered = (
        UNIT.read_text()
        .replace("/opt/iot-monitor/venv/", f"{system.prefix}/venv/")
        .replace("/etc/iot-monitor/bridge.yaml", str(existing))
    )
    (system.unit_dir / SERVICE).write_text(rendered)

    result = system.run("--dry-run", "--config", str(my_config))
    assert result.returncode == 0, result.stderr
    assert result.actions == [
        pip_action(system),
        sh(f"install -d -m 0750 -o root -g iot-monitor {system.config_dir}"),
        sh("systemctl daemon-reload"),
        check_config_action(system),
        sh(f"systemctl enable --now {SERVICE}"),
        sh(f"systemctl restart {SERVICE}"),
    ]
    assert f"keeping the existing {existing}" in result.stdout
    assert f"not installing {my_config}" in result.stdout
    assert f"unit {system.unit_dir}/{SERVICE} is up to date" in result.stdout
    assert system.changes() == []
    assert existing.read_text() == "bridge: {id: kept}\n"


def test_the_unedited_example_is_installed_but_not_started(system: FakeSystem) -> None:
    result = system.run("--dry-run")
    assert result.returncode == 0, result.stderr
    planned = [" ".join(action) for action in result.actions]
    assert f"install -m 0640 -o root -g iot-monitor {EXAMPLE} {system.config_dir}/bridge.yaml" in (
        planned
    )
    assert planned[-1] == "systemctl daemon-reload"
    assert not any("check-config" in action or "enable" in action for action in planned)
    assert "unmodified example" in result.stdout


def test_real_run_makes_the_calls_in_order_and_writes_the_unit(
    system: FakeSystem, my_config: Path
) -> None:
    system.make_venv()
    source = my_config.parent
    result = system.run("--config", str(my_config), "--source", str(source))
    assert result.returncode == 0, result.stderr
    config = f"{system.config_dir}/bridge.yaml"
    assert system.changes() == [
        "apt-get update",
        "apt-get install -y --no-install-recommends python3-lgpio",
        "adduser --system --group --home /var/lib/iot-monitor --no-create-home"
        " --gecos iot-monitor bridge iot-monitor",
        "adduser iot-monitor gpio",
        "adduser iot-monitor dialout",
        "adduser iot-monitor spi",
        "groupadd --system i2c",
        "adduser iot-monitor i2c",
        " ".join(["python", *pip_action(system, source)[3:]]),
        f"install -d -m 0750 -o root -g iot-monitor {system.config_dir}",
        f"install -m 0640 -o root -g iot-monitor {my_config} {config}",
        "systemctl daemon-reload",
        " ".join(check_config_action(system)),
        f"systemctl enable --now {SERVICE}",
    ]
    unit = system.unit_dir / SERVICE
    assert oct(unit.stat().st_mode & 0o777) == "0o644"
    exec_start = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert exec_start == [
        f"ExecStart={system.prefix}/venv/bin/iot-monitor-bridge run --config {config}"
    ]
    assert sorted(p.name for p in system.unit_dir.iterdir()) == [SERVICE]  # no temp file left


def test_invalid_config_stops_before_enabling(system: FakeSystem, my_config: Path) -> None:
    system.check_rc = 2
    system.make_venv()
    result = system.run("--config", str(my_config))
    assert result.returncode == 1
    assert "is not valid" in result.stderr
    assert not any(call.startswith("systemctl enable") for call in system.calls)


def test_refuses_to_run_without_root(system: FakeSystem) -> None:
    system.uid = 1000
    result = system.run()
    assert result.returncode == 1
    assert "run as root" in result.stderr
    assert system.changes() == []


def test_refuses_a_prefix_the_sandbox_hides(system: FakeSystem) -> None:
    result = system.run("--dry-run", "--prefix", "/home/pi/iot-monitor")
    assert result.returncode == 1
    assert "ProtectHome" in result.stderr
    assert result.actions == []


def test_unknown_option_is_an_error(system: FakeSystem) -> None:
    result = system.run("--frobnicate")
    assert result.returncode == 2
    assert "unknown option: --frobnicate" in result.stderr


def test_the_example_config_is_valid_and_shows_every_sensor_type() -> None:
    config = load_config(EXAMPLE)
    sensors = [sensor for device in config.devices for sensor in device.sensors]
    outputs = [output for device in config.devices for output in device.outputs]
    assert {type(sensor) for sensor in sensors} == set(get_args(SensorConfig))
    assert {type(output) for output in outputs} == set(get_args(OutputConfig) or [OutputConfig])
    protocols = {getattr(sensor, "protocol", None) for sensor in sensors} - {None}
    assert {"sds011", "mhz19b", "json_lines"} <= protocols
    assert any(device.simulate is not None for device in config.devices)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_is_clean() -> None:
    result = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout
