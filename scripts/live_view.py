"""A live table of what iot-monitor bridges publish: one row per device, latest values.

Subscribes like any MQTT client would (the bridge description, availability, the stream that
carries every reading and the state topics Home Assistant's entities read) and redraws once
a second; without a terminal it prints the table every few seconds instead, so a log or a
test can read it. Readings are counted from the stream, each ``seq`` once (a reading sent
again after a reconnect is a repeat); the values shown are each sensor's newest reading.
The state topics are only counted: they carry a calm subset of the same readings.

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

from iot_monitor_bridge.contract.readings import InvalidPayloadError, decode_stream

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
    """Device id -> sensor id -> value of the newest reading."""
    latest_seq: dict[tuple[str, str], int] = field(default_factory=dict)
    readings: int = 0
    """Readings on the stream, each seq once."""
    repeats: int = 0
    """Readings that came again on the stream (re-sent after a reconnect)."""
    stream_messages: int = 0
    states: int = 0
    """Messages on the state topics."""
    invalid: int = 0
    """Stream or state payloads that are not what the contract says."""
    last_seq: int | None = None
    seen: set[int] = field(default_factory=set)
    """Seqs of the readings counted, above ``floor``."""
    floor: int = -1
    """Every seq at or below this counts as seen (keeps ``seen`` small)."""


SEEN_LIMIT = 100_000
"""Seqs remembered per bridge to tell repeats from new readings; older ones fold into a floor."""


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
                (f"{root}/+/stream", 1),
                (f"{root}/+/+/+/state", 0),
            ]
        )

    def on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic[len(self.topic_root) + 1 :].split("/")
        with self.lock:
            bridge = self.bridges.setdefault(parts[0], Bridge())
            if parts[-1] == "availability":
                bridge.availability = msg.payload.decode(errors="replace")
            elif parts[-1] == "stream" and len(parts) == 2:
                self._stream(bridge, msg.payload)
            elif parts[-1] == "state" and len(parts) == 4:
                bridge.states += 1
            elif parts[-1] == "description" and len(parts) == 2:
                try:
                    payload = json.loads(msg.payload)
                except ValueError:
                    bridge.invalid += 1
                    return
                if isinstance(payload, dict):
                    bridge.name = str(payload.get("name", ""))
                    bridge.devices = {d["id"]: d for d in payload.get("devices", [])}

    @staticmethod
    def _stream(bridge: Bridge, payload: bytes) -> None:
        try:
            readings = decode_stream(payload)
        except InvalidPayloadError:
            bridge.invalid += 1
            return
        bridge.stream_messages += 1
        for reading in readings:
            seq = reading.seq
            if seq <= bridge.floor or seq in bridge.seen:
                bridge.repeats += 1
                continue
            bridge.seen.add(seq)
            if len(bridge.seen) > SEEN_LIMIT:  # forget the oldest half
                ordered = sorted(bridge.seen)
                bridge.floor = ordered[len(ordered) // 2]
                bridge.seen = set(ordered[len(ordered) // 2 + 1 :])
            bridge.readings += 1
            bridge.last_seq = max(seq, bridge.last_seq or seq)
            key = (reading.device_id, reading.sensor_id)
            if seq > bridge.latest_seq.get(key, -1):  # a backlog never hides a newer value
                bridge.latest_seq[key] = seq
                bridge.latest.setdefault(reading.device_id, {})[reading.sensor_id] = reading.value

    def render(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lines: list[str] = []
        with self.lock:
            if not self.bridges:
                return "waiting for a bridge to publish ..."
            for bridge_id, bridge in sorted(self.bridges.items()):
                per_message = (bridge.readings + bridge.repeats) / max(bridge.stream_messages, 1)
                lines.append(
                    f"bridge {bridge_id} ({bridge.name or '?'}): {bridge.availability}, "
                    f"last seq {bridge.last_seq}"
                    + (f", {bridge.invalid} invalid payloads" if bridge.invalid else "")
                )
                lines.append(
                    f"  stream: {bridge.readings} readings, {bridge.readings / elapsed:.0f}/s, "
                    f"{per_message:.1f} per message, {bridge.repeats} repeats; "
                    f"state topics: {bridge.states} states, {bridge.states / elapsed:.1f}/s"
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
    if isinstance(value, dict) and "event_type" in value:  # a machine's transition or sale
        return str(value["event_type"])[:VALUE_WIDTH]
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
