"""The kiosk page: a vending machine's touch screen, served by the bridge's HTTP server.

The page (``kiosk.html``, one static file, no build step) opens a websocket on
``/ws/kiosk``; the bridge sends the machine's state when it connects and after every
committed step, and takes button presses as ``{"event": "select", "data": {"slot": "a"}}``.
It works with no network and no Home Assistant: it talks to the runner on the bridge's loop.

Anyone who can reach the port may watch; only the machine's ``kiosk:`` events are taken, and
only from a browser on the Pi itself (a loopback peer that asked for a loopback host name,
so DNS rebinding cannot pass a remote page off as local) or from one that gives the
bridge's kiosk token (docs/kiosk.md). A cross-origin page cannot open the socket at all.
Every bad message gets an error back on its socket; nothing a client sends stops the bridge.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from iot_monitor_bridge.config import BridgeConfig
from iot_monitor_bridge.machines.engine import Refused

if TYPE_CHECKING:
    from websockets.http11 import Request, Response

    from iot_monitor_bridge.machines.vending import VendingMachine
    from iot_monitor_bridge.runtime.machines import MachineRunner

_LOGGER = logging.getLogger(__name__)

PAGE: Final = Path(__file__).with_name("kiosk.html")
SOCKET_PATH: Final = "/ws/kiosk"
TOKEN_FILE: Final = "kiosk_token"  # noqa: S105 - the file's name, not a token

STATE_LABELS: Final = {
    "idle": "Choose a product",
    "awaiting_payment": "Insert coins, then press Pay",
    "dispensing": "Dispensing…",
    "out_of_stock": "Sold out",
    "out_of_service": "Out of service",
    "needs_attention": "Needs attention: please call staff",
}


def state_label(state: str) -> str:
    """What the screen says for ``state``; a state of the file's own gets its name."""
    return STATE_LABELS.get(state) or state.replace("_", " ").capitalize()


def view(machine_id: str, name: str, currency: str, machine: VendingMachine) -> dict[str, object]:
    """The ``state`` message: all the page draws, from the model's current state."""
    s = machine.s
    return {
        "type": "state",
        "machine": machine_id,
        "name": name,
        "state": machine.state,
        "label": state_label(machine.state),
        "credit": s.credit,
        "currency": currency,
        "selection": s.selection,
        "products": [
            {
                "slot": slot,
                "name": product.name,
                "price": s.prices.get(slot, product.price),
                "stock": s.stock.get(slot, 0),
            }
            for slot, product in machine.products.items()
        ],
    }


@dataclass(frozen=True)
class KioskError(Exception):
    """A message the kiosk does not take: ``code`` for the page, ``message`` for people."""

    code: str
    message: str

    def document(self) -> str:
        """The ``error`` message sent back on the socket."""
        return json.dumps({"type": "error", "code": self.code, "message": self.message})


@dataclass(frozen=True)
class Press:
    """A button pressed on the page: an event of the machine's ``kiosk:`` list."""

    event: str
    data: dict[str, object] = field(default_factory=dict)


def parse_press(message: str | bytes, allowed: Sequence[str]) -> Press:
    """Read one websocket message; raises ``KioskError`` naming what is wrong with it."""
    if not isinstance(message, str):
        raise KioskError("invalid", "expected a JSON text message, got binary data")
    try:
        document = json.loads(message)
    except ValueError as err:
        raise KioskError("invalid", f"not JSON: {err}") from None
    if not isinstance(document, dict):
        raise KioskError("invalid", 'expected an object like {"event": "pay"}')
    unknown = sorted(set(document) - {"event", "data"})
    if unknown:
        raise KioskError("invalid", f"unknown keys: {', '.join(map(str, unknown))}")
    event, data = document.get("event"), document.get("data", {})
    if not isinstance(event, str):
        raise KioskError("invalid", "event: expected the name of a button's event")
    if not isinstance(data, dict):
        raise KioskError("invalid", "data: expected an object")
    if event not in allowed:
        buttons = ", ".join(allowed) or "nothing"
        raise KioskError("not_allowed", f"{event!r} is not a kiosk button; it may fire: {buttons}")
    return Press(event, data)


def _loopback_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def loopback_host(host_header: str | None) -> bool:
    """Whether a ``Host`` header names this machine's loopback (``localhost``, ``127.0.0.1``)."""
    if not host_header:
        return False
    host = urlsplit(f"//{host_header}").hostname or ""
    return host == "localhost" or _loopback_address(host)


def may_operate(
    peer: str, host_header: str | None, token: str | None, expected: str | None
) -> bool:
    """The rule for pressing buttons: the Pi's own browser, or the bridge's token."""
    if _loopback_address(peer) and loopback_host(host_header):
        return True
    return (
        token is not None
        and expected is not None
        and hmac.compare_digest(token.encode(), expected.encode())
    )


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """Whether a browser's ``Origin`` is the page's own (no ``Origin``: not a browser)."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in {"http", "https"} and parts.netloc.lower() == (host_header or "").lower()


def kiosk_token(config: BridgeConfig) -> str:
    """``http.kiosk_token``, else the one in ``<state_dir>/kiosk_token``, made once (0600)."""
    if config.http.kiosk_token is not None:
        return config.http.kiosk_token
    path = config.state_dir / TOKEN_FILE
    try:
        saved = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        saved = ""
    if saved:
        return saved
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        os.fchmod(fd, 0o600)  # also when an empty file was there with other rights
        file.write(token + "\n")
    _LOGGER.info("Kiosk token written to %s", path)
    return token


class Kiosk:
    """The page and its websockets for the running vending machines."""

    def __init__(self, runners: Mapping[str, MachineRunner], token: str | None) -> None:
        """Watch every (started) runner: each step is pushed to the pages that show it."""
        self._runners = dict(runners)
        self._token = token
        self._page = PAGE.read_bytes()
        self._clients: dict[str, set[ServerConnection]] = {key: set() for key in self._runners}
        self._changed: set[str] = set()
        self._sent = {key: self._state(key) for key in self._runners}
        """What every page of a machine was last sent (a new page gets the current state)."""
        self._unwatch = [
            runner.watch(partial(self._step_committed, key)) for key, runner in runners.items()
        ]
        self._closed = False

    def page(self, path: str) -> bytes | None:
        """The HTML for ``/kiosk`` (the first machine) or ``/kiosk/<machine>``; else ``None``."""
        if path == "/kiosk" and self._runners:
            return self._page
        prefix, _, machine = path.partition("/kiosk/")
        return self._page if not prefix and machine in self._runners else None

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """Accept a page's websocket (``None``) or answer why not."""
        if self._machine(request) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such machine\n")
        if not same_origin(request.headers.get("Origin"), request.headers.get("Host")):
            return connection.respond(HTTPStatus.FORBIDDEN, "cross-origin kiosk socket\n")
        return None

    def _machine(self, request: Request) -> str | None:
        names = parse_qs(urlsplit(request.path).query).get("machine", [])
        if not names:
            return next(iter(self._runners), None)
        return names[0] if names[0] in self._runners else None

    async def serve(self, connection: ServerConnection) -> None:
        """One page: ``hello``, then the state after every step; its presses in order."""
        request = connection.request
        assert request is not None, "served after the handshake"
        key = self._machine(request)
        assert key is not None, "checked by the handshake"
        runner = self._runners[key]
        tokens = parse_qs(urlsplit(request.path).query).get("token", [])
        operate = may_operate(
            str(connection.remote_address[0]),
            request.headers.get("Host"),
            tokens[0] if tokens else None,
            self._token,
        )
        hello = {
            "type": "hello",
            "machine": key,
            "operate": operate,
            "buttons": list(runner.config.kiosk) if operate else [],
        }
        try:
            await connection.send(json.dumps(hello))
            self._clients[key].add(connection)
            await connection.send(self._state(key))
            async for message in connection:
                error = self._press(runner, message, operate=operate)
                if error is not None:
                    await connection.send(error.document())
        except ConnectionClosed:
            pass
        finally:
            self._clients[key].discard(connection)

    def _press(
        self, runner: MachineRunner, message: str | bytes, *, operate: bool
    ) -> KioskError | None:
        if not operate:
            return KioskError(
                "read_only",
                "this screen may only watch: open it on the Pi, or with the kiosk token",
            )
        try:
            press = parse_press(message, runner.config.kiosk)
        except KioskError as err:
            return err
        if self._closed:
            return KioskError("stopping", "the bridge is stopping")
        try:
            step = runner.fire(press.event, press.data)
        except Exception:  # the ledger's disk, or a bug: this page's press only
            _LOGGER.exception("Kiosk press %r on %s failed", press.event, runner.id)
            return KioskError("failed", "the machine could not take it; see the bridge's log")
        if isinstance(step.result, Refused):
            return KioskError(step.result.code, step.result.message)
        return None

    def _state(self, key: str) -> str:
        runner = self._runners[key]
        vending = runner.config.vending
        currency = vending.currency if vending is not None and vending.currency else ""
        machine = runner.vending
        assert machine is not None, "the kiosk serves vending machines only"
        return json.dumps(view(key, runner.config.display_name, currency, machine))

    def _step_committed(self, key: str) -> None:
        """Push once per loop turn: a press's chained steps reach the page as one state."""
        if not self._changed:
            asyncio.get_running_loop().call_soon(self._push)
        self._changed.add(key)

    def _push(self) -> None:
        """Send the pages a state that differs from the last one (a refusal changes nothing)."""
        changed, self._changed = self._changed, set()
        for key in changed:
            text = self._state(key)
            if self._clients[key] and text != self._sent[key]:
                broadcast(self._clients[key], text)
            self._sent[key] = text

    def close(self) -> None:
        """Stop watching and take no more presses (the bridge is shutting down)."""
        self._closed = True
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []
