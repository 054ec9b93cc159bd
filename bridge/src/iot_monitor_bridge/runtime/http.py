"""The bridge's HTTP endpoint: ``/health``, ``/metrics`` and the kiosk page, on one port.

``/health`` and ``/metrics`` are built from ``BridgeSnapshot`` at request time, so they can
never disagree with the bridge's own sensors. One ``websockets`` server on the bridge's loop
answers the plain requests (``process_request``) and upgrades the kiosk page's websocket
(runtime/kiosk.py), so the page needs no second port. An error never escapes a request: a
failing snapshot is a 500 and one logged error, with no detail in the response.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from iot_monitor_bridge.runtime.kiosk import SOCKET_PATH as KIOSK_SOCKET
from iot_monitor_bridge.runtime.status import BridgeSnapshot

if TYPE_CHECKING:
    from iot_monitor_bridge.runtime.kiosk import Kiosk

_LOGGER = logging.getLogger(__name__)

Snapshot = Callable[[], BridgeSnapshot]

PREFIX = "iot_monitor_bridge"
SERVER_HEADER: Final = "iot-monitor-bridge"
"""The Server header names the product only, not the Python version."""
MAX_MESSAGE: Final = 4096
"""A kiosk press is a few dozen bytes; anything much larger closes that socket."""


class SnapshotCollector:
    """A Prometheus collector that reads one snapshot per scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The metrics of one snapshot, taken when Prometheus scrapes."""
        snap = self._snapshot()
        yield InfoMetricFamily(
            PREFIX,
            "The bridge's identity.",
            value={"bridge_id": snap.bridge_id, "version": snap.version},
        )
        connected = GaugeMetricFamily(
            f"{PREFIX}_broker_connected",
            "1 while connected to the broker in use (labelled with it), else 0.",
            labels=["host", "port"],
        )
        broker = snap.broker
        if broker is None:
            connected.add_metric(["", ""], 0)
        else:
            connected.add_metric([broker.host, str(broker.port)], int(broker.connected))
        yield connected
        yield CounterMetricFamily(
            f"{PREFIX}_readings", "Readings produced by the drivers.", value=snap.readings_total
        )
        yield CounterMetricFamily(
            f"{PREFIX}_published",
            "Readings acknowledged by a broker.",
            value=snap.published_total,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_spool_depth", "Readings waiting in the spool.", value=snap.spool_depth
        )
        yield CounterMetricFamily(
            f"{PREFIX}_spool_dropped",
            "Readings dropped from a full spool.",
            value=snap.spool_dropped,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_spool_oldest_age_seconds",
            "Age of the oldest unpublished reading; 0 when the spool is empty.",
            value=snap.spool_oldest_age_s or 0.0,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_failovers", "Moves from one broker to another.", value=snap.failovers
        )
        faults = CounterMetricFamily(
            f"{PREFIX}_faults",
            "Recoverable driver faults by source and kind.",
            labels=["source", "kind"],
        )
        for source, kinds in sorted(snap.faults.items()):
            for kind, count in sorted(kinds.items()):
                faults.add_metric([source, kind], count)
        yield faults
        commands = CounterMetricFamily(
            f"{PREFIX}_commands", "Command results by outcome.", labels=["outcome"]
        )
        for outcome, count in sorted(snap.commands.items()):
            commands.add_metric([outcome], count)
        yield commands
        yield GaugeMetricFamily(f"{PREFIX}_devices", "Configured devices.", value=snap.devices)
        yield GaugeMetricFamily(
            f"{PREFIX}_uptime_seconds", "Seconds since the bridge started.", value=snap.uptime_s
        )


def health_document(snap: BridgeSnapshot) -> dict[str, Any]:
    """``/health``'s JSON: every snapshot field plus ``status`` (``ok`` or ``degraded``)."""
    return {"status": "ok" if snap.healthy else "degraded", **dataclasses.asdict(snap)}


class _QuietLog(logging.LoggerAdapter[logging.Logger]):
    """websockets' INFO lines (one per request) at DEBUG: scrapes would fill the journal."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg``, INFO demoted to DEBUG."""
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


def _response(status: HTTPStatus, content_type: str, body: bytes, *, head: bool) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status.value, status.phrase, headers, b"" if head else body)


class HttpServer:
    """``/health``, ``/metrics`` and the kiosk on ``bind``:``port`` (port 0 picks a free one)."""

    def __init__(
        self, bind: str, port: int, snapshot: Snapshot, kiosk: Kiosk | None = None
    ) -> None:
        self._bind = bind
        self._port = port
        self._snapshot = snapshot
        self._kiosk = kiosk
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(SnapshotCollector(snapshot))
        self._server: Server | None = None

    async def start(self) -> None:
        """Bind and serve on the running loop; binding errors (port in use) raise here."""
        if self._server is not None:
            return
        self._server = await serve(
            self._serve_socket,
            self._bind,
            self._port,
            process_request=self._route,
            server_header=SERVER_HEADER,
            logger=_QuietLog(logging.getLogger("websockets.server")),
            compression=None,  # a few small messages: not worth zlib's memory per socket
            max_size=MAX_MESSAGE,
        )

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def stop(self) -> None:
        """Close the port and every kiosk socket; nothing if it is not started."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()

    async def _serve_socket(self, connection: ServerConnection) -> None:
        """An upgraded socket: only the kiosk's are accepted by ``_route``."""
        assert self._kiosk is not None, "_route upgrades only kiosk sockets"
        await self._kiosk.serve(connection)

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer a plain request, or return ``None`` to upgrade a kiosk socket."""
        path = urlsplit(request.path).path
        if path == KIOSK_SOCKET and self._kiosk is not None and request.method == "GET":
            upgrade = self._kiosk.handshake(connection, request)
            if upgrade is not None:
                self._log(connection, request, upgrade.status_code)
            return upgrade
        if request.method not in {"GET", "HEAD"}:
            response = _response(
                HTTPStatus.NOT_IMPLEMENTED, "text/plain", b"not implemented\n", head=False
            )
        else:
            response = self._page(path, request)
        self._log(connection, request, response.status_code)
        return response

    def _page(self, path: str, request: Request) -> Response:
        head = request.method == "HEAD"
        try:
            if path == "/health":
                snap = self._snapshot()
                status = HTTPStatus.OK if snap.healthy else HTTPStatus.SERVICE_UNAVAILABLE
                body = json.dumps(health_document(snap)).encode()
                return _response(status, "application/json", body, head=head)
            if path == "/metrics":
                encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
                return _response(HTTPStatus.OK, content_type, encoder(self._registry), head=head)
            page = self._kiosk.page(path) if self._kiosk is not None else None
            if page is not None:
                return _response(HTTPStatus.OK, "text/html; charset=utf-8", page, head=head)
        except Exception:
            _LOGGER.exception("HTTP %s failed", path)
            return _response(
                HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", b"internal error\n", head=head
            )
        return _response(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n", head=head)

    @staticmethod
    def _log(connection: ServerConnection, request: Request, status: int) -> None:
        """Requests go to DEBUG: a scrape every 15 s would otherwise fill the journal."""
        _LOGGER.debug(
            '%s "%s %s" %d', connection.remote_address[0], request.method, request.path, status
        )
