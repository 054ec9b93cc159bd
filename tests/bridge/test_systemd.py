"""The systemd unit: valid for systemd, hardened, and consistent with the bridge's defaults."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from iot_monitor_bridge.config import DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR

UNIT = Path(__file__).resolve().parents[2] / "bridge/systemd/iot-monitor-bridge.service"
EXECUTABLE = "/opt/iot-monitor/venv/bin/iot-monitor-bridge"
MAX_EXPOSURE = 2.5


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package: systemd)",
)


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given, in order (systemd keys may repeat)."""
    settings: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings[f"{section}.{key}"].append(value)
    return settings


SETTINGS = unit_settings(UNIT.read_text())


def setting(key: str) -> str:
    values = SETTINGS[f"Service.{key}"]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
    )


def test_runs_the_installed_bridge_with_the_default_config() -> None:
    assert setting("ExecStart") == f"{EXECUTABLE} run --config {DEFAULT_CONFIG_PATH}"
    assert setting("User") == "iot-monitor"
    assert setting("Group") == "iot-monitor"
    assert setting("SupplementaryGroups").split() == ["gpio", "dialout", "spi", "i2c"]
    # StateDirectory=X is /var/lib/X: the config's default state_dir.
    assert Path("/var/lib", setting("StateDirectory")) == DEFAULT_STATE_DIR
    assert setting("WorkingDirectory") == str(DEFAULT_STATE_DIR)
    assert setting("Restart") == "on-failure"
    assert SETTINGS["Unit.After"][0].split()[0] == "network-online.target"
    assert SETTINGS["Unit.Wants"] == ["network-online.target"]
    assert SETTINGS["Install.WantedBy"] == ["multi-user.target"]


def test_keeps_what_the_bridge_needs_under_the_hardening() -> None:
    # Group access to GPIO/serial devices needs the real groups, not PrivateUsers' mapping.
    assert "Service.PrivateUsers" not in SETTINGS
    # Pi health reads /proc/stat and /proc/meminfo; ProcSubset=pid would hide them.
    assert "Service.ProcSubset" not in SETTINGS
    assert "Service.PrivateDevices" not in SETTINGS
    assert "Service.PrivateNetwork" not in SETTINGS
    assert setting("ProtectSystem") == "strict"
    assert "Service.ReadWritePaths" not in SETTINGS  # the state directory only
    families = setting("RestrictAddressFamilies").split()
    assert {"AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"} == set(families)
    allowed = {entry.split()[0] for entry in SETTINGS["Service.DeviceAllow"]}
    assert {"char-gpiochip", "char-spi", "char-ttyUSB", "char-ttyAMA", "char-ttyS"} <= allowed
    assert setting("DevicePolicy") == "closed"
    assert setting("CapabilityBoundingSet") == ""
    assert setting("AmbientCapabilities") == ""
    assert setting("UMask") == "0077"


@pytest.mark.systemd
@needs_systemd_analyze
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing wrong but the executable this machine lacks.

    The bridge is not installed under /opt here, so verify rightly reports the missing
    ExecStart binary. The unit is checked twice: as shipped, where that must be the only
    complaint, and as a copy whose ExecStart names an existing program, which must pass.
    """
    shipped = analyze("verify", "--man=no", str(UNIT), cwd=tmp_path)
    complaints = [line for line in shipped.stderr.splitlines() if line.strip()]
    if Path(EXECUTABLE).exists():
        assert shipped.returncode == 0, shipped.stderr
    else:
        assert len(complaints) == 1, complaints
        assert f"Command {EXECUTABLE} is not executable" in complaints[0]

    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(EXECUTABLE, shutil.which("true") or "/bin/true"))
    verified = analyze("verify", "--man=no", str(copy), cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == ""


@pytest.mark.systemd
@needs_systemd_analyze
def test_security_exposure_is_low(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(UNIT), cwd=tmp_path)
    if "--offline" in result.stderr and "unrecognized option" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE
