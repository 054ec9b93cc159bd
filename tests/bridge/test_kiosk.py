"""The kiosk page's logic and its websocket on a real bridge (runtime/kiosk.py, runtime/http.py).

The pure parts first (labels, the state message, message parsing, who may press buttons,
the token file); then a real ``BridgeApp`` running the vending machine of
bridge/examples/vending.yaml on gpiozero's mock pins, with no broker reachable (the kiosk
works offline), and a real ``websockets`` client: a purchase paid with coin pulses, every
kind of bad message, the page's paths, and a peer on the LAN that may watch but needs the
token to press.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from iot_monitor_bridge.config import BridgeConfig, ConfigError, load_yaml, parse_config
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.machines.vending import VendingMachine
from iot_monitor_bridge.runtime.app import BridgeApp
from iot_monitor_bridge.runtime.kiosk import (
    PAGE,
    KioskError,
    Press,
    kiosk_token,
    may_operate,
    parse_press,
    same_origin,
    state_label,
    view,
)
from tests.support.mosquitto import free_port

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
WAIT_S = 10.0


def example(tmp_path: Path, broker_port: int, **http: Any) -> dict[str, Any]:
    """bridge/examples/vending.yaml without the fridge thermometer, a 300 ms dispense pulse."""
    settings: dict[str, Any] = load_yaml(EXAMPLE.read_text(encoding="utf-8"))
    fridge = settings["devices"][0]
    fridge.pop("sensors")  # no DS18B20 here: the machine is in service
    machine = settings["machines"][0]
    for key in ("out_of_service", "back_in_service"):
        machine["vending"].pop(key)
    machine["services"][0]["do"][0]["for"] = "300ms"
    settings.update(
        state_dir=str(tmp_path / "state"),
        mqtt={"brokers": [{"host": "127.0.0.1", "port": broker_port}]},
        http={"port": 0, "bind": "127.0.0.1", **http},
        zeroconf={"enabled": False},
        health={"enabled": False},
    )
    return settings


def _config(tmp_path: Path, **http: Any) -> BridgeConfig:
    return parse_config(yaml.safe_dump(example(tmp_path, free_port(), **http)))


# ----- the pure parts ---------------------------------------------------------------------


def test_states_read_as_words() -> None:
    assert state_label("idle") == "Choose a product"
    assert state_label("awaiting_payment") == "Insert coins, then press Pay"
    assert state_label("needs_attention") == "Needs attention: please call staff"
    assert state_label("cleaning_cycle") == "Cleaning cycle"  # a state of the file's own


def test_the_state_message_follows_the_model(tmp_path: Path) -> None:
    (machine_config,) = _config(tmp_path).machines
    machine, _ = VendingMachine.restore(machine_config, None, now=1000.0, sensors={})
    machine.fire("credit", {"amount": 2000}, now=1001.0, sensors={})
    machine.fire("select", {"slot": "c"}, now=1002.0, sensors={})
    machine.fire("set_price", {"slot": "b", "price": 3500}, now=1003.0, sensors={})
    message = view("vending", "Vending machine", "IDR", machine)
    assert message == {
        "type": "state",
        "machine": "vending",
        "name": "Vending machine",
        "state": "awaiting_payment",
        "label": "Insert coins, then press Pay",
        "credit": 2000,
        "currency": "IDR",
        "selection": "c",
        "products": [
            {"slot": "a", "name": "Teh botol", "price": 5000, "stock": 10},
            {"slot": "b", "name": "Air mineral", "price": 3500, "stock": 12},
            {"slot": "c", "name": "Kopi susu", "price": 8000, "stock": 6},
        ],
    }
    json.dumps(message)  # what goes on the socket


KIOSK = ("select", "pay", "cancel")


def test_a_press_is_an_event_of_the_kiosk_list() -> None:
    assert parse_press('{"event": "pay"}', KIOSK) == Press("pay")
    assert parse_press('{"event": "select", "data": {"slot": "a"}}', KIOSK) == Press(
        "select", {"slot": "a"}
    )


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        (b'{"event": "pay"}', "invalid", "binary"),
        ("pay", "invalid", "not JSON"),
        ("[1, 2]", "invalid", "expected an object"),
        ('{"event": "pay", "slot": "a"}', "invalid", "unknown keys: slot"),
        ('{"data": {}}', "invalid", "event:"),
        ('{"event": 3}', "invalid", "event:"),
        ('{"event": "select", "data": ["a"]}', "invalid", "data: expected an object"),
        ('{"event": "restock", "data": {"slot": "a", "count": 5}}', "not_allowed", "restock"),
        ('{"event": "set_state"}', "not_allowed", "select, pay, cancel"),
    ],
)
def test_a_bad_message_is_named(message: str | bytes, code: str, words: str) -> None:
    with pytest.raises(KioskError) as raised:
        parse_press(message, KIOSK)
    assert raised.value.code == code
    assert words in raised.value.message
    assert json.loads(raised.value.document()) == {
        "type": "error",
        "code": code,
        "message": raised.value.message,
    }


TOKEN = "a" * 32


@pytest.mark.parametrize(
    ("peer", "host", "token", "expected", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:8765", None, TOKEN, True),
        ("127.0.0.1", "localhost:8765", None, None, True),
        ("::1", "[::1]:8765", None, TOKEN, True),
        ("::ffff:127.0.0.1", "localhost", None, TOKEN, True),
        # DNS rebinding: a remote page whose name now points at 127.0.0.1.
        ("127.0.0.1", "shop.example:8765", None, TOKEN, False),
        ("127.0.0.1", None, None, TOKEN, False),
        ("192.168.1.20", "192.168.1.5:8765", None, TOKEN, False),
        ("192.168.1.20", "127.0.0.1:8765", None, TOKEN, False),  # a Host header is no proof
        ("192.168.1.20", "192.168.1.5:8765", "b" * 32, TOKEN, False),
        ("192.168.1.20", "192.168.1.5:8765", TOKEN[:-1], TOKEN, False),
        ("192.168.1.20", "192.168.1.5:8765", TOKEN, None, False),  # no token could be made
        ("192.168.1.20", "192.168.1.5:8765", TOKEN, TOKEN, True),
        ("fe80::1%eth0", "[fe80::2]:8765", TOKEN, TOKEN, True),
    ],
)
def test_who_may_press_buttons(
    peer: str, host: str | None, token: str | None, expected: str | None, allowed: bool
) -> None:
    assert may_operate(peer, host, token, expected) is allowed


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        (None, "127.0.0.1:8765", True),  # not a browser
        ("http://127.0.0.1:8765", "127.0.0.1:8765", True),
        ("http://Vending-Pi.local:8765", "vending-pi.local:8765", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8765", False),
        ("https://shop.example", "127.0.0.1:8765", False),
        ("null", "127.0.0.1:8765", False),
        ("file://", "", False),
    ],
)
def test_only_the_page_s_own_origin_opens_the_socket(
    origin: str | None, host: str, same: bool
) -> None:
    assert same_origin(origin, host) is same


def test_the_token_is_made_once_readable_by_the_bridge_only(tmp_path: Path) -> None:
    config = _config(tmp_path)
    token = kiosk_token(config)
    path = config.state_dir / "kiosk_token"
    assert len(token) >= 32
    assert path.read_text(encoding="ascii") == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kiosk_token(config) == token  # kept across restarts
    path.write_text("")
    path.chmod(0o644)
    renewed = kiosk_token(config)
    assert renewed
    assert renewed != token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_token_wins(tmp_path: Path) -> None:
    config = _config(tmp_path, kiosk_token="kiosk-token-from-the-file-0123")
    assert kiosk_token(config) == "kiosk-token-from-the-file-0123"
    assert not (config.state_dir / "kiosk_token").exists()


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("short", "length >= 16"),
        ("has spaces in it, 1234567890", "matching regex"),
        ("ä" * 20, "matching regex"),
    ],
)
def test_a_weak_or_odd_configured_token_is_refused(
    tmp_path: Path, token: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=f"http.kiosk_token: expected `str`.*{problem}"):
        _config(tmp_path, kiosk_token=token)


# ----- a running bridge -------------------------------------------------------------------


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition of the bridge in this process (nothing to await on directly)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Bridge:
    """A ``BridgeApp`` running in this test's loop, and its readings as they are accepted."""

    def __init__(self, app: BridgeApp) -> None:
        self.app = app
        self.readings: asyncio.Queue[Reading] = asyncio.Queue()

    @property
    def port(self) -> int:
        port = self.app.http_port
        assert port is not None
        return port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"ws://{host}:{self.port}{path}"

    async def reading(self, device: str, sensor: str) -> Reading:
        async with asyncio.timeout(WAIT_S):
            while True:
                reading = await self.readings.get()
                if (reading.device_id, reading.sensor_id) == (device, sensor):
                    return reading

    async def coin(self, pins: MockFactory) -> None:
        """One pulse of the coin acceptor (pin 17 to ground and back), as the driver sees it."""
        pins.pin(17).drive_low()
        assert (await self.reading("vending", "coin")).value is True
        pins.pin(17).drive_high()
        assert (await self.reading("vending", "coin")).value is False


@asynccontextmanager
async def running(config: BridgeConfig) -> AsyncIterator[Bridge]:
    app = BridgeApp(config)
    bridge = Bridge(app)
    start_machines = app._start_machines

    def listen_from_the_start() -> None:
        """Listen before any driver runs, as the machines do: no first level is missed."""
        start_machines()
        app.publisher.listeners.append(bridge.readings.put_nowait)

    app._start_machines = listen_from_the_start  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        await _until(lambda: app.http_port is not None or task.done(), "the HTTP endpoint")
        assert not task.done(), task
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def receive(socket_: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        message: dict[str, Any] = json.loads(await socket_.recv())
    return message


async def state(
    socket_: ClientConnection, condition: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The next ``state`` message that meets ``condition`` (errors fail the test)."""
    while True:
        message = await receive(socket_)
        assert message["type"] == "state", message
        if condition(message):
            return message


def stock(message: dict[str, Any], slot: str) -> int:
    return next(int(p["stock"]) for p in message["products"] if p["slot"] == slot)


async def test_a_purchase_over_the_kiosk_socket_with_no_network(
    tmp_path: Path, pins: MockFactory
) -> None:
    async with running(_config(tmp_path)) as bridge:
        await bridge.reading("vending", "coin")  # the acceptor's first level: no coin
        async with connect(bridge.url("/ws/kiosk")) as kiosk:
            hello = await receive(kiosk)
            assert hello == {
                "type": "hello",
                "machine": "vending",
                "operate": True,
                "buttons": ["select", "pay", "cancel"],
            }
            first = await state(kiosk)
            assert (first["state"], first["credit"], first["selection"]) == ("idle", 0, None)
            assert [stock(first, slot) for slot in "abc"] == [10, 12, 6]
            for inserted in range(500, 3500, 500):  # six coins: the price of slot b
                await bridge.coin(pins)
                assert (await state(kiosk))["credit"] == inserted
            await kiosk.send(json.dumps({"event": "select", "data": {"slot": "b"}}))
            chosen = await state(kiosk)
            assert (chosen["state"], chosen["selection"]) == ("awaiting_payment", "b")
            assert chosen["label"] == "Insert coins, then press Pay"
            await kiosk.send(json.dumps({"event": "pay"}))
            paying = await state(kiosk)
            assert (paying["state"], paying["credit"]) == ("dispensing", 0)
            sold = await state(kiosk, lambda m: m["state"] == "idle")
            assert (stock(sold, "b"), sold["credit"], sold["selection"]) == (11, 0, None)
        machine = bridge.app.machines["vending"].machine
        assert (machine.s.sold, machine.s.sales) == (1, 3000)


async def test_bad_messages_are_answered_and_the_socket_lives(
    tmp_path: Path, pins: MockFactory
) -> None:
    async with running(_config(tmp_path)) as bridge:
        async with connect(bridge.url("/ws/kiosk?machine=vending")) as kiosk:
            assert (await receive(kiosk))["operate"] is True
            await state(kiosk)
            for message, code in [
                ("not json", "invalid"),
                (b"\x00\x01", "invalid"),
                ('{"event": "restock", "data": {"slot": "a", "count": 9}}', "not_allowed"),
                ('{"event": "pay"}', "not_allowed"),  # refused by the machine in idle
                ('{"event": "select", "data": {"slot": "z"}}', "unknown_slot"),
                ('{"event": "select", "data": {"slot": 7}}', "invalid"),
            ]:
                await kiosk.send(message)
                error = await receive(kiosk)
                assert (error["type"], error["code"]) == ("error", code), (message, error)
                assert error["message"]
            await kiosk.send('{"event": "select", "data": {"slot": "a"}}')
            assert (await state(kiosk))["selection"] == "a"  # the socket still works
        machine = bridge.app.machines["vending"].machine
        assert (machine.state, machine.s.stock["a"]) == ("awaiting_payment", 10)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


async def test_the_page_and_its_socket_paths(tmp_path: Path, pins: MockFactory) -> None:
    async with running(_config(tmp_path)) as bridge:
        base = f"http://127.0.0.1:{bridge.port}"
        for path in ("/kiosk", "/kiosk/vending", "/kiosk?token=x"):
            status, content_type, body = await asyncio.to_thread(_get, base + path)
            assert (status, content_type) == (200, "text/html; charset=utf-8")
            assert b"/ws/kiosk" in body
        for path in ("/kiosk/nope", "/kiosk/vending/x", "/kiosk.html", "/ws"):
            assert (await asyncio.to_thread(_get, base + path))[0] == 404, path
        status, _, body = await asyncio.to_thread(_get, base + "/health")
        assert status == 503  # no broker: degraded, and the kiosk works all the same
        with pytest.raises(InvalidStatus) as refused:
            await connect(bridge.url("/ws/kiosk?machine=nope"))
        assert refused.value.response.status_code == 404
        with pytest.raises(InvalidStatus) as refused:
            await connect(bridge.url("/ws/kiosk"), origin="http://shop.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        own = f"http://127.0.0.1:{bridge.port}"
        async with connect(bridge.url("/ws/kiosk"), origin=own) as kiosk:  # type: ignore[arg-type]
            assert (await receive(kiosk))["type"] == "hello"


def _lan_address() -> str | None:
    """An address of this machine other than loopback, to connect from as a LAN peer would."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: it only picks a route
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_a_lan_peer_may_watch_but_presses_only_with_the_token(
    tmp_path: Path, pins: MockFactory
) -> None:
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no address but loopback")
    config = _config(tmp_path, bind="0.0.0.0")
    async with running(config) as bridge:
        token = (config.state_dir / "kiosk_token").read_text(encoding="ascii").strip()
        async with connect(bridge.url("/ws/kiosk", host=lan)) as watcher:
            hello = await receive(watcher)
            assert (hello["operate"], hello["buttons"]) == (False, [])
            await state(watcher)
            await watcher.send('{"event": "select", "data": {"slot": "a"}}')
            error = await receive(watcher)
            assert (error["type"], error["code"]) == ("error", "read_only")
            assert "token" in error["message"]
            async with connect(bridge.url(f"/ws/kiosk?token={token[:-1]}", host=lan)) as wrong:
                assert (await receive(wrong))["operate"] is False
            async with connect(bridge.url(f"/ws/kiosk?token={token}", host=lan)) as operator:
                assert (await receive(operator))["operate"] is True
                await state(operator)
                await operator.send('{"event": "select", "data": {"slot": "a"}}')
                assert (await state(operator))["selection"] == "a"
            # The watcher sees the operator's press: every page follows every step.
            assert (await state(watcher))["selection"] == "a"
        assert bridge.app.machines["vending"].machine.state == "awaiting_payment"


def test_the_wheel_carries_the_page(tmp_path: Path) -> None:
    """The page is package data: a Pi's install (a wheel, not this checkout) serves it."""
    bridge = Path(__file__).parents[2] / "bridge"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(bridge),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("iot_monitor_bridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("iot_monitor_bridge/runtime/kiosk.html") == PAGE.read_bytes()
