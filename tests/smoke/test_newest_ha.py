"""The newest Home Assistant release with this integration, as a user would run it.

The pinned test harness (``tests/integration``) shows the integration works on the oldest
release it claims (``hacs.json``). This test shows a breaking newer release
before users report it: it runs in ``.venv-ha-latest``, which has the release pinned in
``requirements/ha-latest.txt`` (bumped on purpose) and no test harness, and starts

- a private Mosquitto on a free port (``tests/support/mosquitto.py``),
- the bridge with the simulated fleet of ``bridge/examples/demo.yaml`` on that broker, from
  ``.venv`` (the bridge is not part of a user's Home Assistant, and its pins may differ),
- ``hass --skip-pip`` with this integration linked into its config directory, set up as
  ``scripts/demo`` does it (``scripts/demo_homeassistant.py``): the owner and onboarding in its
  stores, then MQTT and the discovered bridge through the config-flow HTTP APIs.

It then checks over the REST and websocket APIs that Home Assistant is the pinned release, that
the bridge's devices have their raw MQTT sensors and the integration's statistics sensors (found
through the entity registry by platform, not by name), that the statistics move, that nothing
logs an error or a warning about them, and that Home Assistant stops cleanly.

``scripts/test`` runs it with ``.venv-ha-latest/bin/python -m pytest tests/smoke``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from packaging.version import Version

from scripts.demo_homeassistant import Api
from tests.support.mosquitto import MOSQUITTO, Mosquitto, free_port
from tests.support.processes import kill_session, session_members

REPO = Path(__file__).resolve().parents[2]
HASS = REPO / ".venv-ha-latest" / "bin" / "hass"
BRIDGE_PYTHON = REPO / ".venv" / "bin" / "python"
PREPARE = REPO / "scripts" / "demo_homeassistant.py"
DOMAIN = "iot_monitor"

_pin = re.search(
    r"^homeassistant==(\S+)", (REPO / "requirements" / "ha-latest.txt").read_text(), re.MULTILINE
)
assert _pin is not None, "requirements/ha-latest.txt pins no homeassistant"
PINNED_VERSION = _pin.group(1)

DEMO_CONFIG: dict[str, Any] = yaml.safe_load(
    (REPO / "bridge" / "examples" / "demo.yaml").read_text()
)
FLEET_SIZE: int = DEMO_CONFIG["devices"][0]["simulate"]["count"]

READY_TIMEOUT_S = 180.0
"""Home Assistant's first start (new database, every built-in it loads): 10-60 s."""
SETUP_TIMEOUT_S = 90.0
"""MQTT set up, then the bridge discovered over MQTT and its entry loaded."""
ENTITIES_TIMEOUT_S = 90.0
CHANGE_TIMEOUT_S = 60.0
"""Statistics are over 10 s windows by default: several windows."""
STOP_TIMEOUT_S = 60.0
POLL_S = 0.5

pytestmark = [
    pytest.mark.smoke,
    pytest.mark.timeout(900),  # the sum of the waits below, with room
    pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed"),
]

T = TypeVar("T")


@dataclass
class Process:
    """A part of the set-up, in a session of its own, its output in ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, name: str, argv: list[str], log_path: Path) -> Process:
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
        return cls(name, popen, log_path)

    def log(self, tail: int = 8000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:]

    def assert_running(self) -> None:
        if (code := self.popen.poll()) is not None:
            raise AssertionError(f"{self.name} exited ({code}):\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM, as a service manager stops it; the exit code, ``None`` if still running."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Clean-up: stop it, then kill whatever is left of its session."""
        self.stop()
        kill_session(self.popen.pid)
        self.popen.wait(10)


def wait_for(what: str, timeout: float, check: Callable[[], T | None], *parts: Process) -> T:
    """Poll ``check`` until it returns something true; fail when a part exits or on time."""
    deadline = time.monotonic() + timeout
    while True:
        for part in parts:
            part.assert_running()
        if result := check():
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {part.name}\n{part.log(4000)}" for part in parts)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(POLL_S)


def number(state: str | None) -> float | None:
    """A sensor state as a number; ``None`` for unknown, unavailable or text."""
    try:
        return float(state) if state is not None else None
    except ValueError:
        return None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def bridge(tmp_path: Path, broker: Mosquitto) -> Iterator[Process]:
    """The demo's bridge (``bridge/examples/demo.yaml``) on the private broker, as scripts/demo
    runs it."""
    assert BRIDGE_PYTHON.exists(), f"{BRIDGE_PYTHON} is missing: run scripts/setup"
    directory = tmp_path / "bridge"
    directory.mkdir()
    config = dict(DEMO_CONFIG)
    config["mqtt"] = {**config["mqtt"], "brokers": [{"host": broker.host, "port": broker.port}]}
    config["http"] = {**config["http"], "port": free_port(), "bind": "127.0.0.1"}
    config["zeroconf"] = {"enabled": False}
    config["state_dir"] = str(directory / "state")
    config_path = directory / "bridge.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    process = Process.start(
        "bridge",
        [str(BRIDGE_PYTHON), "-m", "iot_monitor_bridge", "run", "--config", str(config_path)],
        directory / "bridge.log",
    )
    yield process
    process.close()


@dataclass
class HomeAssistant:
    process: Process
    url: str
    config_dir: Path

    def api(self) -> Api:
        return Api(self.url)


@pytest.fixture
def home_assistant(tmp_path: Path) -> Iterator[HomeAssistant]:
    """``hass`` of .venv-ha-latest, its config directory prepared as scripts/demo does."""
    assert HASS.exists(), f"{HASS} is missing: run scripts/setup"
    config_dir = tmp_path / "homeassistant"
    port = free_port()
    # The stores are written by this Python, which is .venv-ha-latest's (tests/smoke/conftest.py):
    # the same release as the hass that reads them.
    subprocess.run(
        [sys.executable, str(PREPARE), "prepare", str(config_dir), "--port", str(port)],
        check=True,
        cwd=REPO,
        timeout=120,
    )
    process = Process.start(
        "homeassistant",
        [str(HASS), "--config", str(config_dir), "--skip-pip"],
        tmp_path / "homeassistant.log",
    )
    yield HomeAssistant(process, f"http://127.0.0.1:{port}", config_dir)
    process.close()


def answers(api: Api) -> bool:
    try:
        status, _ = api.call("GET", "/api/onboarding")
    except OSError:
        return False
    return status in (200, 401, 404)


def states_by_id(api: Api) -> dict[str, dict[str, Any]]:
    status, states = api.call("GET", "/api/states")
    assert status == 200, (status, states)
    return {state["entity_id"]: state for state in states}


@dataclass
class Fleet:
    """What the entity registry holds for the bridge's devices, by device id."""

    raw: dict[str, list[str]]
    """Entity ids of the MQTT sensors (the bridge's discovery) of each device."""
    means: dict[str, list[str]]
    """Entity ids of the integration's enabled mean sensors on each of those devices."""


def fleet_in_registry(entries: list[dict[str, Any]]) -> Fleet | None:
    """The devices with both raw MQTT sensors and the integration's means, once there are as
    many as the simulated fleet has devices (the bridge's own device may be one more)."""
    raw: dict[str, list[str]] = {}
    means: dict[str, list[str]] = {}
    for entry in entries:
        entity_id: str = entry["entity_id"]
        if not entity_id.startswith("sensor.") or not entry.get("device_id"):
            continue
        if entry["platform"] == "mqtt":
            raw.setdefault(entry["device_id"], []).append(entity_id)
        elif (
            entry["platform"] == DOMAIN
            and entry.get("disabled_by") is None
            and "mean" in f"{entity_id} {entry.get('unique_id', '')}"
        ):
            means.setdefault(entry["device_id"], []).append(entity_id)
    devices = raw.keys() & means.keys()
    if len(devices) < FLEET_SIZE:
        return None
    return Fleet({d: sorted(raw[d]) for d in devices}, {d: sorted(means[d]) for d in devices})


def numeric_per_device(
    states: dict[str, dict[str, Any]], entities: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    """For each device, its entities that have a number as state."""
    numeric: dict[str, dict[str, float]] = {}
    for device, entity_ids in entities.items():
        for entity_id in entity_ids:
            value = number(states.get(entity_id, {}).get("state"))
            if value is not None:
                numeric.setdefault(device, {})[entity_id] = value
    return numeric


def problem_lines(log: str) -> list[str]:
    """Errors and warnings about the integration, or from MQTT (whose only traffic here is the
    bridge's), other than the notice every custom integration gets."""
    return [
        line
        for line in log.splitlines()
        if (" ERROR " in line or " WARNING " in line)
        and ("iot_monitor" in line or "homeassistant.components.mqtt" in line)
        and "has not been tested by Home Assistant" not in line
    ]


def test_hacs_json_claims_a_release_no_newer_than_this_one() -> None:
    """hacs.json names the oldest release tested (the pinned harness's); this one is newer."""
    oldest = json.loads((REPO / "hacs.json").read_text())["homeassistant"]
    assert Version(oldest) <= Version(PINNED_VERSION)


def test_newest_home_assistant_shows_the_fleet_and_moving_statistics(
    broker: Mosquitto, bridge: Process, home_assistant: HomeAssistant
) -> None:
    hass = home_assistant.process
    api = home_assistant.api()
    wait_for("Home Assistant to answer", READY_TIMEOUT_S, lambda: answers(api), hass, bridge)

    api.log_in()
    status, config = api.call("GET", "/api/config")
    assert status == 200, (status, config)
    assert config["version"] == PINNED_VERSION, "not the release requirements/ha-latest.txt pins"

    # MQTT on the private broker, then the bridge that MQTT discovery offers, as in scripts/demo.
    api.set_up_mqtt(broker.port)
    assert api.confirm_bridges(timeout=SETUP_TIMEOUT_S) == 1, hass.log()

    def loaded() -> bool:
        entries = [*api.entries("mqtt"), *api.entries(DOMAIN)]
        return [entry["state"] for entry in entries] == ["loaded", "loaded"]

    wait_for("the MQTT and iot_monitor entries to load", SETUP_TIMEOUT_S, loaded, hass, bridge)

    # The devices and their entities, from the entity registry: the raw sensors of the bridge's
    # MQTT discovery and the integration's statistics on the same devices.
    fleet = wait_for(
        f"{FLEET_SIZE} devices with MQTT sensors and the integration's means",
        ENTITIES_TIMEOUT_S,
        lambda: fleet_in_registry(list(api.ws_command("config/entity_registry/list") or [])),
        hass,
        bridge,
    )

    def values() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]] | None:
        states = states_by_id(api)
        raw = numeric_per_device(states, fleet.raw)
        means = numeric_per_device(states, fleet.means)
        return (raw, means) if raw.keys() == means.keys() == fleet.means.keys() else None

    raw, first_means = wait_for(
        "a number from a raw sensor and a mean of every device",
        CHANGE_TIMEOUT_S,
        values,
        hass,
        bridge,
    )

    # The statistics move: on every device, a mean changes as new windows close.
    def moved() -> bool:
        _, means = values() or ({}, {})
        return all(
            any(
                means.get(device, {}).get(entity_id, value) != value
                for entity_id, value in firsts.items()
            )
            for device, firsts in first_means.items()
        )

    wait_for("a mean of every device to change", CHANGE_TIMEOUT_S, moved, hass, bridge)

    # The web UI loads: the frontend asks for every service first (a package missing from
    # requirements/ha-latest.txt makes this fail, and the UI would stay at 'Loading...').
    assert api.ws_command("get_services") is not None, hass.log()
    bridge.assert_running()
    print(
        f"Home Assistant {config['version']}: {len(fleet.means)} devices, "
        f"{sum(map(len, fleet.raw.values()))} MQTT sensors, "
        f"{sum(map(len, fleet.means.values()))} enabled means, "
        f"{sum(map(len, raw.values()))} raw sensors with numbers"
    )

    # A clean stop (the integration unloads): exit code 0, nothing left of its session, and
    # nothing logged against the integration or the bridge's MQTT entities from start to stop.
    assert hass.stop() == 0, hass.log()
    assert session_members(hass.popen.pid) == []
    assert problem_lines(hass.log(tail=10**7)) == []
