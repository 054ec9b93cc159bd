"""The README's demo as a user meets it: one command, then Home Assistant in the browser.

``scripts/demo`` starts a broker, the bridge with its simulated fleet and Home Assistant with
this integration. The test logs in with the documented demo credentials through Home
Assistant's own HTTP and websocket APIs, checks what the user would find there (the bridge's
entry, its 8 devices, statistics that move, the bridge online, pages that can load and stay up),
then presses Ctrl-C and checks that nothing is left running.

It runs real processes for tens of seconds, so it is marked ``demo`` (``-m "not demo"`` skips it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from custom_components.iot_monitor.const import DOMAIN, STAT_MAX, STAT_MEAN, STAT_MIN, STAT_STDEV
from custom_components.iot_monitor.coordinator import bridge_unique_id, statistic_unique_id
from iot_monitor_bridge.contract.ids import BRIDGE_DEVICE_ID, device_identifier
from iot_monitor_bridge.contract.ids import unique_id as raw_unique_id
from scripts.demo_homeassistant import Api
from tests.support.mosquitto import MOSQUITTO, free_port
from tests.support.processes import AS_FROM_A_TERMINAL, kill_session, session_members

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo"
DEMO_CONFIG = yaml.safe_load((REPO / "bridge" / "examples" / "demo.yaml").read_text())
BRIDGE_ID: str = DEMO_CONFIG["bridge"]["id"]
BRIDGE_NAME: str = DEMO_CONFIG["bridge"]["name"]
FLEET_ID: str = DEMO_CONFIG["devices"][0]["id"]
FLEET_SIZE = 8
"""The brief's streaming example, which the demo's configuration reproduces."""

READY_TIMEOUT_S = 150.0
"""Home Assistant's first start (new database, onboarding, MQTT, the bridge): 10-60 s."""
CHANGE_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0

pytestmark = [
    pytest.mark.demo,
    pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/demo is a bash script"),
    pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto is not installed"),
]


@dataclass
class Demo:
    """One run of scripts/demo, in a session of its own as a terminal would give it."""

    process: subprocess.Popen[bytes]
    directory: Path
    broker_port: int
    ha_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ha_port}"

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_until_ready(self) -> str:
        """The line the demo prints once Home Assistant is set up (the login)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            for line in self.log("homeassistant-setup").splitlines():
                if line.startswith("Home Assistant ready at"):
                    return line
            if self.process.poll() is not None:
                raise AssertionError(f"the demo exited ({self.process.returncode}): {self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"Home Assistant not ready in time: {self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        names = ("output", "homeassistant-setup", "homeassistant", "bridge")
        return "\n".join(f"--- {name}.log\n{self.log(name)[-4000:]}" for name in names)


@contextmanager
def running_demo(tmp_path: Path, **env: str) -> Iterator[Demo]:
    """scripts/demo on free ports, with ``env`` added to its environment."""
    directory = tmp_path / "demo"
    directory.mkdir()
    broker_port = ha_port = free_port()
    while ha_port == broker_port:
        ha_port = free_port()
    env = os.environ | {
        "IOT_MONITOR_DEMO_DIR": str(directory),
        "IOT_MONITOR_DEMO_PORT": str(broker_port),
        "IOT_MONITOR_DEMO_HA_PORT": str(ha_port),
        "IOT_MONITOR_DEMO_SECONDS": "240",  # a safety net: the test stops it long before
        **env,
    }
    with (directory / "output.log").open("wb") as output:
        process = subprocess.Popen(
            [*AS_FROM_A_TERMINAL, str(DEMO)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        yield Demo(process, directory, broker_port, ha_port)
    finally:
        kill_session(process.pid)
        process.wait(10)


@pytest.fixture
def demo(socket_enabled: None, tmp_path: Path) -> Iterator[Demo]:
    """scripts/demo; sockets are allowed to 127.0.0.1, where it all listens."""
    with running_demo(tmp_path) as running:
        yield running


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except ConnectionRefusedError:
        return False


class Websocket:
    """Home Assistant's websocket API, as the frontend uses it."""

    def __init__(self, connection: aiohttp.ClientWebSocketResponse) -> None:
        self.connection = connection
        self._next_id = 0
        self._unread: dict[int, list[dict[str, Any]]] = {}
        """Messages that arrived while another id was awaited, kept for their reader."""

    async def send(self, message_type: str, **fields: Any) -> int:
        self._next_id += 1
        await self.connection.send_json({"id": self._next_id, "type": message_type, **fields})
        return self._next_id

    async def receive(self, message_id: int) -> dict[str, Any]:
        """The next message (a result or an event) for ``message_id``."""
        if unread := self._unread.get(message_id):
            return unread.pop(0)
        while True:
            message: dict[str, Any] = await self.connection.receive_json()
            if message.get("id") == message_id:
                return message
            self._unread.setdefault(message["id"], []).append(message)

    async def command(self, message_type: str, **fields: Any) -> Any:
        reply = await self.receive(await self.send(message_type, **fields))
        assert reply["success"], reply
        return reply["result"]

    async def registry(
        self, name: str, complete: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        """The ``device`` or ``entity`` registry once ``complete`` holds for its entries.

        The demo says it is ready once the entry exists; its devices and entities follow from
        MQTT messages, so the registry is listed again after each of its changes.
        """
        updates = await self.send("subscribe_events", event_type=f"{name}_registry_updated")
        assert (await self.receive(updates))["success"]
        entries: list[dict[str, Any]]
        try:
            async with asyncio.timeout(CHANGE_TIMEOUT_S):
                while not complete(entries := await self.command(f"config/{name}_registry/list")):
                    await self.receive(updates)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None
        await self.command("unsubscribe_events", subscription=updates)
        return entries


def number(state: str | None) -> float | None:
    """A sensor state as a number; ``None`` for unknown, unavailable or text."""
    try:
        return float(state) if state is not None else None
    except ValueError:
        return None


class EntityStates:
    """The states of entities as a ``subscribe_entities`` subscription keeps them."""

    def __init__(self, ws: Websocket, subscription: int) -> None:
        self.ws = ws
        self.subscription = subscription
        self._states: dict[str, dict[str, Any]] = {}

    async def started(self) -> None:
        reply = await self.ws.receive(self.subscription)
        assert reply["success"], reply

    def state(self, entity_id: str) -> str | None:
        state: str | None = self._states.get(entity_id, {}).get("s")
        return state

    def attributes(self, entity_id: str) -> dict[str, Any]:
        attributes: dict[str, Any] = self._states[entity_id]["a"]
        return attributes

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Apply the events of the subscription until ``condition`` holds."""
        try:
            async with asyncio.timeout(CHANGE_TIMEOUT_S):
                while not condition():
                    event = (await self.ws.receive(self.subscription))["event"]
                    for entity_id, state in event.get("a", {}).items():
                        self._states[entity_id] = state
                    for entity_id, diff in event.get("c", {}).items():
                        additions = diff.get("+", {})
                        current = self._states.setdefault(entity_id, {"a": {}})
                        current["a"] = current["a"] | additions.get("a", {})
                        current.update({k: v for k, v in additions.items() if k != "a"})
                        for removed in diff.get("-", {}).get("a", []):
                            current["a"].pop(removed, None)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}: {self._states}") from None


async def async_page_problems(ws: Websocket) -> list[str]:
    """What would spoil the pages a browser shows, beyond this integration's entities."""
    problems = []
    services = await ws.receive(await ws.send("get_services"))
    if not services["success"]:  # the frontend asks for them before showing anything
        problems.append(f"get_services fails, the frontend stays at 'Loading...': {services}")
    http = await ws.command("http/config")
    if http["revert_at"] is not None:
        problems.append(
            f"the HTTP settings are an unconfirmed trial: at {http['revert_at']} Home Assistant "
            "reverts them (port 8123, all interfaces) and restarts, which stops the demo"
        )
    issues = await ws.command("repairs/list_issues")
    problems += [f"repair shown: {issue}" for issue in issues["issues"] if not issue["ignored"]]
    return problems


async def async_check_fleet(url: str, token: str, broker_port: int) -> list[str]:
    """Check what the user finds: devices, statistics, the bridge; return page problems."""
    ws_url = url.replace("http", "ws", 1) + "/api/websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as connection:
        assert (await connection.receive_json())["type"] == "auth_required"
        await connection.send_json({"type": "auth", "access_token": token})
        assert (await connection.receive_json())["type"] == "auth_ok"
        ws = Websocket(connection)

        fleet = [f"{FLEET_ID}_{n}" for n in range(1, FLEET_SIZE + 1)]
        wanted_devices = [device_identifier(BRIDGE_ID, d) for d in (BRIDGE_DEVICE_ID, *fleet)]

        def by_identifier(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {key: entry for entry in entries for domain, key in entry["identifiers"]}

        devices = by_identifier(
            await ws.registry(
                "device",
                lambda entries: set(wanted_devices) <= by_identifier(entries).keys(),
                "the bridge's devices",
            )
        )
        fleet_devices = [devices[device_identifier(BRIDGE_ID, device)] for device in fleet]
        assert [device["name"] for device in fleet_devices] == [
            f"Fleet {n}" for n in range(1, FLEET_SIZE + 1)
        ]
        bridge_device = devices[device_identifier(BRIDGE_ID, BRIDGE_DEVICE_ID)]

        statistics = {
            device_id: {
                statistic: statistic_unique_id(BRIDGE_ID, device_id, "temperature", statistic)
                for statistic in (STAT_MEAN, STAT_MIN, STAT_MAX, STAT_STDEV)
            }
            for device_id in fleet
        }
        wanted_entities = [bridge_unique_id(BRIDGE_ID, "connectivity")]
        wanted_entities += [key for by_kind in statistics.values() for key in by_kind.values()]
        # The broker in use: the bridge's own MQTT sensor, the only one.
        broker_unique_id = raw_unique_id(BRIDGE_ID, BRIDGE_DEVICE_ID, "broker")

        def ours(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {entry["unique_id"]: entry for entry in entries if entry["platform"] == DOMAIN}

        def on_devices(entries: list[dict[str, Any]]) -> bool:
            entities = ours(entries)
            raw_broker = [e for e in entries if e["unique_id"] == broker_unique_id]
            return bool(raw_broker and raw_broker[0]["device_id"]) and all(
                entities.get(key, {}).get("device_id") for key in wanted_entities
            )

        registry = await ws.registry("entity", on_devices, "the statistics on the devices")
        entities = ours(registry)
        brokers = [e for e in registry if e["unique_id"].endswith("/broker")]
        assert [(e["platform"], e["unique_id"]) for e in brokers] == [("mqtt", broker_unique_id)]
        (broker,) = brokers
        for device, by_kind in zip(fleet_devices, statistics.values(), strict=True):
            for statistic, unique_id in by_kind.items():
                entity = entities[unique_id]
                assert entity["device_id"] == device["id"]  # on the MQTT device's page
                assert (entity["disabled_by"] is None) == (statistic != STAT_STDEV)
        means = [entities[by_kind[STAT_MEAN]] for by_kind in statistics.values()]
        connectivity = entities[bridge_unique_id(BRIDGE_ID, "connectivity")]
        assert connectivity["device_id"] == broker["device_id"] == bridge_device["id"]

        # The states, first all of them, then changes, as the frontend follows them.
        watched = [entity["entity_id"] for entity in (*means, connectivity, broker)]
        states = EntityStates(ws, await ws.send("subscribe_entities", entity_ids=watched))
        await states.started()
        mean_ids = [entity["entity_id"] for entity in means]
        await states.wait_until(
            lambda: all(number(states.state(entity_id)) is not None for entity_id in mean_ids),
            "a mean temperature of every device",
        )
        for n, entity_id in enumerate(mean_ids, 1):
            attributes = states.attributes(entity_id)
            assert attributes["unit_of_measurement"] == "°C"
            assert attributes["friendly_name"] == f"Fleet {n} Mean temperature"
        first = states.state(mean_ids[0])
        await states.wait_until(
            lambda: states.state(mean_ids[0]) != first, "the first device's mean to move"
        )
        assert number(states.state(mean_ids[0])) is not None
        await states.wait_until(
            lambda: states.state(broker["entity_id"]) == f"127.0.0.1:{broker_port}",
            "the broker in use",
        )
        assert states.state(connectivity["entity_id"]) == "on"
        return await async_page_problems(ws)


def test_demo_shows_the_fleet_in_home_assistant_and_ctrl_c_stops_it(demo: Demo) -> None:
    assert DEMO_CONFIG["devices"][0]["simulate"]["count"] == FLEET_SIZE
    ready = demo.wait_until_ready()
    assert "log in as demo / demo-iot-monitor; bridges: 1" in ready, ready

    api = Api(demo.url)
    status, page = api.call("GET", "/")
    assert status == 200
    assert "<html" in page  # the frontend a browser opens
    api.log_in()  # the documented login, through the same login flow the browser uses
    assert api.token is not None
    entries = [(entry["title"], entry["state"]) for entry in api.entries(DOMAIN)]
    assert entries == [(BRIDGE_NAME, "loaded")]
    page_problems = asyncio.run(async_check_fleet(demo.url, api.token, demo.broker_port))

    assert demo.process.poll() is None, demo.logs()
    os.killpg(demo.process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the script's group
    assert demo.process.wait(STOP_TIMEOUT_S) == 0, demo.logs()
    assert session_members(demo.process.pid) == []  # broker, bridge, Home Assistant: all gone
    assert not listening(demo.broker_port)
    assert not listening(demo.ha_port)
    bridge_log = demo.log("bridge")
    assert "Availability offline acknowledged" in bridge_log  # the broker outlived the bridge
    assert "Traceback" not in bridge_log
    integration_problems = [
        line
        for line in demo.log("homeassistant").splitlines()
        if "iot_monitor" in line
        and (" ERROR " in line or " WARNING " in line)
        and "has not been tested by Home Assistant" not in line
    ]
    assert integration_problems == []
    # Last, so that a problem of the pages leaves the rest checked.
    assert page_problems == [], "\n".join(page_problems)
