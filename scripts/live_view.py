"""A live table of what iot-monitor bridges publish: one row per device, latest values.

Subscribes like any MQTT client would (the bridge description, availability and every
reading) and redraws once a second; without a terminal it prints the table every few
seconds instead, so a log or a test can read it.

    python scripts/live_view.py --port 1883 [--host 127.0.0.1] [--topic-root iot_monitor]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

CLEAR = "\033[H\033[2J"
PLAIN_EVERY_S = 3.0
VALUE_WIDTH = 24


@dataclass
class Bridge:
    name: str = ""
    availability: str = "?"
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device id -> description entry (name, sensors with units)."""
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device id -> sensor id -> latest value."""
    readings: int = 0
    last_seq: int | None = None


class LiveView:
    def __init__(self, topic_root: str) -> None:
        self.topic_root = topic_root
        self.bridges: dict[str, Bridge] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def on_connect(self, client: mqtt.Client, *_: Any) -> None:
        root = self.topic_root
        client.subscribe(
            [
                (f"{root}/+/description", 1),
                (f"{root}/+/availability", 1),
                (f"{root}/+/+/+/state", 0),
            ]
        )

    def on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic[len(self.topic_root) + 1 :].split("/")
        try:
            payload = json.loads(msg.payload) if parts[-1] != "availability" else None
        except ValueError:
            return
        with self.lock:
            bridge = self.bridges.setdefault(parts[0], Bridge())
            if parts[-1] == "availability":
                bridge.availability = msg.payload.decode(errors="replace")
            elif parts[-1] == "description" and isinstance(payload, dict):
                bridge.name = str(payload.get("name", ""))
                bridge.devices = {d["id"]: d for d in payload.get("devices", [])}
            elif len(parts) == 4 and isinstance(payload, dict):
                bridge.latest.setdefault(parts[1], {})[parts[2]] = payload.get("v")
                bridge.readings += 1
                bridge.last_seq = payload.get("seq", bridge.last_seq)

    def render(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lines: list[str] = []
        with self.lock:
            if not self.bridges:
                return "waiting for a bridge to publish ..."
            for bridge_id, bridge in sorted(self.bridges.items()):
                lines.append(
                    f"bridge {bridge_id} ({bridge.name or '?'}): {bridge.availability}, "
                    f"{bridge.readings} readings, {bridge.readings / elapsed:.0f}/s, "
                    f"last seq {bridge.last_seq}"
                )
                lines.extend(self._row(bridge, device_id) for device_id in sorted(bridge.latest))
                lines.append("")
        return "\n".join(lines)

    @staticmethod
    def _row(bridge: Bridge, device_id: str) -> str:
        units = {
            s["id"]: s.get("unit") or ""
            for s in bridge.devices.get(device_id, {}).get("sensors", [])
        }
        cells = [
            f"{sensor_id}={_short(value)}{_unit(units.get(sensor_id, ''))}"
            for sensor_id, value in sorted(bridge.latest[device_id].items())
        ]
        return f"  {device_id:<14} " + "  ".join(cells)


def _unit(unit: str) -> str:
    return unit if not unit or unit[0] in "%°" else f" {unit}"


def _short(value: Any) -> str:
    if isinstance(value, dict) and {"latitude", "longitude"} <= set(value):
        return f"{value['latitude']:.4f},{value['longitude']:.4f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)[:VALUE_WIDTH]


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--topic-root", default="iot_monitor")
    parser.add_argument(
        "--status-file",
        type=Path,
        action="append",
        default=[],
        help="show the last line of this file under the table (repeatable)",
    )
    args = parser.parse_args()

    view = LiveView(args.topic_root)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"iot-monitor-live-view-{time.time_ns()}"
    )
    client.on_connect = view.on_connect
    client.on_message = view.on_message
    client.connect_async(args.host, args.port)
    client.loop_start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    interactive = sys.stdout.isatty()
    every = 1.0 if interactive else PLAIN_EVERY_S
    try:
        while not stop.wait(every):
            text = view.render() + "".join(f"\n{_last_line(p)}" for p in args.status_file)
            if interactive:
                sys.stdout.write(f"{CLEAR}{text}\n(Ctrl-C stops)\n")
            else:
                sys.stdout.write(f"--- {time.strftime('%H:%M:%S')}\n{text}\n")
            sys.stdout.flush()
    except KeyboardInterrupt:  # run on its own in a terminal
        pass
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
