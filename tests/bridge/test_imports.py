"""What the daemon loads: only what its configuration uses (memory on a small Pi).

Each check starts a fresh interpreter, since this test process has imported everything, and
asserts on module names, never on bytes, so it holds on any machine.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge import __version__
from tests.support.mosquitto import free_port

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "bridge" / "examples" / "demo.yaml"

# Starts every part the configuration asks for (stop is already set), shuts down, and
# prints the modules loaded by then.
_RUN_AND_LIST_MODULES = """
import asyncio, json, sys
from pathlib import Path

import yaml

import iot_monitor_bridge.cli
from iot_monitor_bridge.config import parse_config
from iot_monitor_bridge.runtime.app import BridgeApp

settings = yaml.safe_load(Path(sys.argv[1]).read_text())
settings.update(json.loads(sys.argv[2]))
app = BridgeApp(parse_config(yaml.safe_dump(settings)))
stop = asyncio.Event()
stop.set()
asyncio.run(app.run(stop))
print(json.dumps(sorted(sys.modules)))
"""

HARDWARE_AND_ZEROCONF = {
    "gpiozero",
    "serial",
    "zeroconf",
    "ifaddr",
    "iot_monitor_bridge.drivers.gpio",
    "iot_monitor_bridge.drivers.onewire",
    "iot_monitor_bridge.drivers.serial",
    "iot_monitor_bridge.runtime.announce",
}
HTTP_ENDPOINT = {
    "websockets",
    "prometheus_client",
    "iot_monitor_bridge.runtime.http",
    # websockets' version module imports it (1.0 MB on 3.11) and never calls it in a release;
    # with the endpoint off, nothing imports it, so nothing scans the installed packages.
    "importlib.metadata",
}


def _python(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _modules_after_running_demo(tmp_path: Path, **overrides: Any) -> set[str]:
    settings = {
        "state_dir": str(tmp_path / "state"),
        "mqtt": {"brokers": [{"host": "127.0.0.1", "port": free_port()}]},  # nothing there
        "http": {"port": 0, "bind": "127.0.0.1"},
        **overrides,
    }
    output = _python("-c", _RUN_AND_LIST_MODULES, str(DEMO_CONFIG), json.dumps(settings))
    modules: list[str] = json.loads(output.splitlines()[-1])
    return set(modules)


def test_the_version_needs_no_package_metadata() -> None:
    output = _python(
        "-c",
        "import sys, iot_monitor_bridge; "
        "print(iot_monitor_bridge.__version__, 'importlib.metadata' in sys.modules)",
    )
    assert output.split() == [__version__, "False"]


def test_the_package_metadata_takes_its_version_from_the_package() -> None:
    assert importlib.metadata.version("iot-monitor-bridge") == __version__


def test_the_demo_loads_no_hardware_drivers_and_no_zeroconf(tmp_path: Path) -> None:
    modules = _modules_after_running_demo(tmp_path)
    assert not modules & HARDWARE_AND_ZEROCONF
    # What the demo does use was loaded: the check sees what running imports.
    assert {"iot_monitor_bridge.drivers.simulated", "psutil"} | HTTP_ENDPOINT <= modules


@pytest.mark.parametrize(
    ("overrides", "left_out"),
    [
        ({"http": {"enabled": False}}, HTTP_ENDPOINT),
        ({"health": {"enabled": False}}, {"iot_monitor_bridge.drivers.health", "psutil"}),
    ],
    ids=["http-off", "health-off"],
)
def test_a_part_switched_off_is_never_imported(
    tmp_path: Path, overrides: dict[str, Any], left_out: set[str]
) -> None:
    assert not _modules_after_running_demo(tmp_path, **overrides) & left_out
