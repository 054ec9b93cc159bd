"""The bridge's HTTP endpoint: ``/health`` for monitors, ``/metrics`` for Prometheus.

Both pages are built from ``BridgeSnapshot`` at request time, so they can never disagree
with the bridge's own sensors. The server runs in its own daemon thread and never lets
an error escape a request: a failing snapshot is a 500 and one logged error, with no
detail in the response.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from iot_monitor_bridge.runtime.status import BridgeSnapshot

_LOGGER = logging.getLogger(__name__)

Snapshot = Callable[[], BridgeSnapshot]

PREFIX = "iot_monitor_bridge"


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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "iot-monitor-bridge"
    timeout = 10.0  # an idle client cannot hold a thread for ever

    def version_string(self) -> str:
        """The Server header names the product only, not the Python version."""
        return self.server_version

    def do_GET(self) -> None:
        self._respond(include_body=True)

    def do_HEAD(self) -> None:
        self._respond(include_body=False)

    def _respond(self, *, include_body: bool) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/health":
                snap = self.server.snapshot()
                status = HTTPStatus.OK if snap.healthy else HTTPStatus.SERVICE_UNAVAILABLE
                body = json.dumps(health_document(snap)).encode()
                content_type = "application/json"
            elif path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                status, body = HTTPStatus.OK, encoder(self.server.registry)
            else:
                status, body, content_type = HTTPStatus.NOT_FOUND, b"not found\n", "text/plain"
        except Exception:
            _LOGGER.exception("HTTP %s failed", path)
            status, body, content_type = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                b"internal error\n",
                "text/plain",
            )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if include_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to DEBUG: a scrape every 15 s would otherwise fill the journal."""
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, snapshot: Snapshot
    ) -> None:
        self.address_family = family
        self._bind_host = address[0]
        self.snapshot = snapshot
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(snapshot))
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, which stalls on a Pi without DNS."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self._bind_host), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-response is routine, not a traceback on stderr."""
        # socketserver calls this from its except block, so exc_info is the failure.
        _LOGGER.debug("HTTP connection from %s failed", client_address, exc_info=True)  # noqa: LOG014


class HttpServer:
    """``/health`` and ``/metrics`` on ``bind``:``port`` (port 0 picks a free port)."""

    def __init__(self, bind: str, port: int, snapshot: Snapshot) -> None:
        self._bind = bind
        self._port = port
        self._snapshot = snapshot
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve from a daemon thread; binding errors (port in use) raise here."""
        if self._server is not None:
            return
        family = socket.getaddrinfo(
            self._bind, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0][0]
        self._server = _Server((self._bind, self._port), family, self._snapshot)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="iot-monitor-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        port: int = self._server.server_address[1]
        return port

    def stop(self) -> None:
        """Shut the server down and wait for its thread; nothing if it is not started."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
