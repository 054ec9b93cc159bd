"""What the bridge's memory is made of: RSS growth as its parts load, in the daemon's order.

Each step imports one part (with what it pulls in) and prints how much the resident set
grew. Compare the total with the running bridge's peak from ``bench/bridge_throughput.py``:
the difference is what running adds (SQLite connection, MQTT session, threads, buffers).
This script imports nothing else of the bridge first, so the figures are the parts' own.

    .venv-bridge311/bin/python bench/bridge_memory.py
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing would count as interpreter
if TYPE_CHECKING:
    from collections.abc import Callable


def _importing(*modules: str) -> Callable[[], object]:
    return lambda: [importlib.import_module(module) for module in modules]


def _configuration() -> object:
    config = importlib.import_module("iot_monitor_bridge.config")
    return config.parse_config("devices: [{id: fleet, simulate: {count: 8, rate_hz: 4}}]")


STEPS: tuple[tuple[str, Callable[[], object]], ...] = (
    ("asyncio (with ssl, logging, inspect, subprocess)", _importing("asyncio")),
    ("sqlite3", _importing("sqlite3")),
    ("msgspec, PyYAML and the validated configuration", _configuration),
    ("paho-mqtt (with urllib.request, http.client, email)", _importing("paho.mqtt.client")),
    ("psutil (health sensors)", _importing("psutil")),
    (
        "websockets and prometheus-client (HTTP, kiosk)",
        _importing("websockets.asyncio.server", "prometheus_client"),
    ),
    (
        "the bridge's own modules",
        _importing(
            "iot_monitor_bridge.runtime.app",
            "iot_monitor_bridge.runtime.http",
            "iot_monitor_bridge.runtime.kiosk",
            "iot_monitor_bridge.drivers.simulated",
            "iot_monitor_bridge.drivers.health",
        ),
    ),
    (
        "zeroconf and the announcer (when enabled)",
        _importing("zeroconf", "iot_monitor_bridge.runtime.announce"),
    ),
)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:  # no pathlib: its own RSS
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    print(f"python {sys.version.split()[0]}: RSS growth per part, MB")
    before = rss_mb()
    print(f"{'the interpreter':52} {before:5.1f}   total {before:5.1f}")
    for label, load in STEPS:
        load()
        now = rss_mb()
        print(f"{label:52} {now - before:5.1f}   total {now:5.1f}")
        before = now


if __name__ == "__main__":
    main()
