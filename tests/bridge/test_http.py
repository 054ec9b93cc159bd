"""/health and /metrics over a real socket on 127.0.0.1.

The server runs on an asyncio loop (as on the bridge's); here that loop has a thread of its
own, so the tests can ask with the plain, blocking ``http.client``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from iot_monitor_bridge.runtime.http import HttpServer
from iot_monitor_bridge.runtime.status import BridgeSnapshot, BrokerStatus

SNAPSHOT = BridgeSnapshot(
    bridge_id="garage",
    version="1.2.3",
    uptime_s=3600.5,
    broker=BrokerStatus(host="mqtt-b.lan", port=8883, connected=True, index=1),
    failovers=2,
    readings_total=1000,
    published_total=990,
    spool_depth=10,
    spool_dropped=3,
    spool_oldest_age_s=4.5,
    devices=2,
    faults={"pump/flow": {"timeout": 4, "checksum": 1}, "room/t": {"missing": 7}},
    commands={"ok": 5, "rate_limited": 1},
)


@dataclass
class SnapshotSource:
    """What the bridge would return; tests change it between requests."""

    snapshot: BridgeSnapshot = SNAPSHOT
    failure: Exception | None = None
    calls: int = 0

    def __call__(self) -> BridgeSnapshot:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return self.snapshot


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> Response:
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Response(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


class LoopThread:
    """An asyncio loop in a thread of its own, to run the server's coroutines on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[None, None, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


@pytest.fixture(scope="module")
def shared_source() -> SnapshotSource:
    return SnapshotSource()


@pytest.fixture(scope="module")
def shared_server(shared_source: SnapshotSource, loop: LoopThread) -> Iterator[HttpServer]:
    """One server for the module."""
    running = HttpServer("127.0.0.1", 0, shared_source)
    loop.run(running.start())
    yield running
    loop.run(running.stop())


@pytest.fixture
def source(shared_source: SnapshotSource) -> SnapshotSource:
    """The server's snapshot source, reset for each test."""
    shared_source.snapshot, shared_source.failure, shared_source.calls = SNAPSHOT, None, 0
    return shared_source


@pytest.fixture
def server(shared_server: HttpServer, source: SnapshotSource) -> HttpServer:
    return shared_server


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_health_is_200_with_every_field_when_connected(server: HttpServer) -> None:
    response = request(server.port, "/health")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "status": "ok",
        "bridge_id": "garage",
        "version": "1.2.3",
        "uptime_s": 3600.5,
        "broker": {"host": "mqtt-b.lan", "port": 8883, "connected": True, "index": 1},
        "failovers": 2,
        "readings_total": 1000,
        "published_total": 990,
        "spool_depth": 10,
        "spool_dropped": 3,
        "spool_oldest_age_s": 4.5,
        "devices": 2,
        "faults": {"pump/flow": {"timeout": 4, "checksum": 1}, "room/t": {"missing": 7}},
        "commands": {"ok": 5, "rate_limited": 1},
    }


@pytest.mark.parametrize(
    "broker",
    [None, BrokerStatus(host="mqtt-a.lan", port=1883, connected=False, index=0)],
    ids=["never-connected", "disconnected"],
)
def test_health_is_503_degraded_without_a_broker(
    server: HttpServer, source: SnapshotSource, broker: BrokerStatus | None
) -> None:
    source.snapshot = replace(SNAPSHOT, broker=broker, spool_oldest_age_s=None)
    response = request(server.port, "/health")
    assert response.status == 503
    document = response.json()
    assert document["status"] == "degraded"
    assert document["broker"] == (None if broker is None else asdict(broker))
    assert document["spool_oldest_age_s"] is None


def test_metrics_expose_the_snapshot(server: HttpServer) -> None:
    response = request(server.port, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.body)
    expected = {
        ("iot_monitor_bridge_info", (("bridge_id", "garage"), ("version", "1.2.3"))): 1.0,
        ("iot_monitor_bridge_broker_connected", (("host", "mqtt-b.lan"), ("port", "8883"))): 1.0,
        ("iot_monitor_bridge_readings_total", ()): 1000.0,
        ("iot_monitor_bridge_published_total", ()): 990.0,
        ("iot_monitor_bridge_spool_depth", ()): 10.0,
        ("iot_monitor_bridge_spool_dropped_total", ()): 3.0,
        ("iot_monitor_bridge_spool_oldest_age_seconds", ()): 4.5,
        ("iot_monitor_bridge_failovers_total", ()): 2.0,
        ("iot_monitor_bridge_faults_total", (("kind", "checksum"), ("source", "pump/flow"))): 1.0,
        ("iot_monitor_bridge_faults_total", (("kind", "timeout"), ("source", "pump/flow"))): 4.0,
        ("iot_monitor_bridge_faults_total", (("kind", "missing"), ("source", "room/t"))): 7.0,
        ("iot_monitor_bridge_commands_total", (("outcome", "ok"),)): 5.0,
        ("iot_monitor_bridge_commands_total", (("outcome", "rate_limited"),)): 1.0,
        ("iot_monitor_bridge_devices", ()): 2.0,
        ("iot_monitor_bridge_uptime_seconds", ()): 3600.5,
    }
    assert got == expected
    families = {f.name: f.type for f in text_string_to_metric_families(response.body.decode())}
    assert families["iot_monitor_bridge_readings"] == "counter"
    assert families["iot_monitor_bridge_spool_depth"] == "gauge"


def test_metrics_are_read_at_scrape_time(server: HttpServer, source: SnapshotSource) -> None:
    request(server.port, "/metrics")
    source.snapshot = replace(
        SNAPSHOT,
        broker=BrokerStatus(host="mqtt-a.lan", port=1883, connected=False, index=0),
        readings_total=1001,
        spool_oldest_age_s=None,
    )
    got = samples(request(server.port, "/metrics?x=1").body)
    assert got[("iot_monitor_bridge_readings_total", ())] == 1001.0
    assert got[("iot_monitor_bridge_spool_oldest_age_seconds", ())] == 0.0
    assert (
        got[("iot_monitor_bridge_broker_connected", (("host", "mqtt-a.lan"), ("port", "1883")))]
        == 0.0
    )
    assert not any(
        name == "iot_monitor_bridge_broker_connected" and ("host", "mqtt-b.lan") in labels
        for name, labels in got
    )
    source.snapshot = replace(SNAPSHOT, broker=None)
    got = samples(request(server.port, "/metrics").body)
    assert got[("iot_monitor_bridge_broker_connected", (("host", ""), ("port", "")))] == 0.0


def test_metrics_negotiate_openmetrics(server: HttpServer) -> None:
    response = request(
        server.port, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.body.endswith(b"# EOF\n")
    assert b"iot_monitor_bridge_readings_total 1000" in response.body


@pytest.mark.parametrize("path", ["/", "/health/", "/metricsx", "/../etc/passwd"])
def test_other_paths_are_404(server: HttpServer, source: SnapshotSource, path: str) -> None:
    response = request(server.port, path)
    assert response.status == 404
    assert source.calls == 0


def test_head_sends_headers_only(server: HttpServer) -> None:
    response = request(server.port, "/health", method="HEAD")
    assert response.status == 200
    assert int(response.headers["content-length"]) > 0
    assert response.body == b""


def test_other_methods_are_refused(server: HttpServer, source: SnapshotSource) -> None:
    response = request(server.port, "/health", method="POST")
    assert response.status == 501
    assert source.calls == 0


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_snapshot_failure_is_500_logged_and_not_leaked(
    server: HttpServer,
    source: SnapshotSource,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    source.failure = RuntimeError("password=hunter2")
    with caplog.at_level(logging.ERROR, logger="iot_monitor_bridge.runtime.http"):
        response = request(server.port, path)
    assert response.status == 500
    assert b"hunter2" not in response.body
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    source.failure = None
    assert request(server.port, path).status == 200  # the server lives on


def test_no_python_version_in_server_header(server: HttpServer) -> None:
    response = request(server.port, "/health")
    assert response.headers["server"] == "iot-monitor-bridge"


def test_requests_are_logged_at_debug_only(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="iot_monitor_bridge.runtime.http"):
        for path in ("/health", "/metrics", "/nope"):
            request(server.port, path)
    request_lines = [r for r in caplog.records if "GET /" in r.getMessage()]
    assert len(request_lines) == 3
    assert {r.levelno for r in request_lines} == {logging.DEBUG}


def test_binds_only_the_configured_address(source: SnapshotSource, loop: LoopThread) -> None:
    running = HttpServer("127.0.0.1", 0, source)
    loop.run(running.start())
    try:
        assert request(running.port, "/health").status == 200
        # 127.0.0.2 is loopback too, but nothing listens there.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", running.port), timeout=5).close()
    finally:
        loop.run(running.stop())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_binds_an_ipv6_address(source: SnapshotSource, loop: LoopThread) -> None:
    running = HttpServer("::1", 0, source)
    loop.run(running.start())
    try:
        assert request(running.port, "/health", host="::1").status == 200
    finally:
        loop.run(running.stop())


def test_stop_closes_the_port(source: SnapshotSource, loop: LoopThread) -> None:
    running = HttpServer("127.0.0.1", 0, source)
    with pytest.raises(RuntimeError):
        _ = running.port
    loop.run(running.start())
    port = running.port
    assert port > 0
    loop.run(running.stop())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    loop.run(running.stop())  # idempotent


def test_port_in_use_raises_on_start(
    server: HttpServer, source: SnapshotSource, loop: LoopThread
) -> None:
    second = HttpServer("127.0.0.1", server.port, source)
    with pytest.raises(OSError, match="in use"):
        loop.run(second.start())
