"""A screenshot of Home Assistant's own graphs for a sensor whose hours were back-filled.

A real Home Assistant (``hass``, the demo's set-up: scripts/demo_homeassistant.py) with a
private Mosquitto and a bridge's retained description and discovery. Home Assistant was down
for the last 6 hours while the bridge kept measuring (4 readings/s): the bridge replays those
readings on its stream once Home Assistant is up, and sends its current state. The recorder
has never compiled those hours (they are older than its first run), so the integration imports
them at its first compile. A dashboard with Home Assistant's history-graph and
statistics-graph cards of the raw sensor is then opened in headless Chromium (Playwright,
Debian's ``chromium``) and photographed.

    .venv/bin/python bench/backfill_screenshot.py [--out docs/images/backfill-ha.png]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import demo_homeassistant as demo  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from iot_monitor_bridge.contract.readings import Reading, encode_state, encode_stream  # noqa: E402
from tests.support.bridge_fleet import FleetBridge  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402

BRIDGE = FleetBridge(bridge_id="spool-pi", name="Spool Pi", count=1)
HOURS = 6
STEP_MS = 250
ENTITY = "sensor.fleet_1_temperature"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def value(ts_ms: int) -> float:
    """A slow swing over the day and a fast wobble, rounded as a sensor reports it."""
    minutes = ts_ms % 86_400_000 / 60_000
    return round(24.0 + 3.0 * math.sin(minutes / 45.0) + 0.4 * math.sin(ts_ms / 997), 2)


def publish(port: int) -> None:
    """The bridge: retained description, discovery and availability, then its backlog."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(BRIDGE.description_topic, BRIDGE.description_payload(), 1, True)]
    for topic, payload in BRIDGE.discovery_payloads().items():
        infos.append(client.publish(topic, payload, 1, True))
    infos.append(client.publish(BRIDGE.topics.availability, "online", 1, True))
    for info in infos:
        info.wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def replay(port: int, now: datetime) -> None:
    """The bridge's backlog of the last ``HOURS`` on its stream, then its current state."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start_ms = int((now - timedelta(hours=HOURS)).timestamp() * 1000)
    end_ms = int(now.timestamp() * 1000)
    readings = [
        Reading("fleet_1", "temperature", value(ts), ts, seq)
        for seq, ts in enumerate(range(start_ms, end_ms, STEP_MS), 1)
    ]
    infos = [
        client.publish(BRIDGE.topics.stream, encode_stream(readings[first : first + 200]), 1)
        for first in range(0, len(readings), 200)
    ]
    state_topic = BRIDGE.topics.state("fleet_1", "temperature")
    infos.append(client.publish(state_topic, encode_state(readings[-1]), 1, True))
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()
    print(f"replayed {len(readings)} readings from {HOURS} h")


def wait_for_statistics(api: demo.Api, now: datetime, timeout: float) -> int:
    """Until the recorder's first compile has let the integration import the hours."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = api.ws_command(
            "recorder/statistics_during_period",
            start_time=(now - timedelta(hours=HOURS + 1)).isoformat(),
            statistic_ids=[ENTITY],
            period="hour",
            types=["mean", "min", "max"],
        )
        rows = (result or {}).get(ENTITY, [])
        if len(rows) >= HOURS - 1:
            return len(rows)
        time.sleep(5)
    raise SystemExit("no back-filled statistics appeared")


DASHBOARD_PATH = "back-fill"
DASHBOARD = {
    "title": "Back-fill",
    "views": [
        {
            "title": "Back-fill",
            "path": "backfill",
            "cards": [
                {
                    "type": "history-graph",
                    "title": "History graph (states)",
                    "hours_to_show": HOURS + 1,
                    "entities": [ENTITY],
                },
                {
                    "type": "statistics-graph",
                    "title": "Statistics graph (hourly long-term statistics)",
                    "entities": [ENTITY],
                    "days_to_show": 1,
                    "period": "hour",
                    "stat_types": ["mean", "min", "max"],
                    "chart_type": "line",
                },
            ],
        }
    ],
}


def screenshot(url: str, out: Path) -> None:
    """Log in as a person would, open the dashboard, photograph it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url + "/", wait_until="networkidle")
        page.get_by_label("Username").fill(demo.USERNAME)
        page.get_by_label("Password", exact=True).fill(demo.PASSWORD)
        page.keyboard.press("Enter")
        # Past the login and the redirect that stores the tokens, on the default dashboard.
        page.wait_for_url(
            lambda address: "auth" not in address and address.rstrip("/") != url,
            timeout=30_000,
        )
        page.wait_for_load_state("networkidle")
        page.goto(f"{url}/{DASHBOARD_PATH}/backfill", wait_until="networkidle")
        page.wait_for_timeout(8_000)  # the charts draw after their data arrives
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/backfill-ha.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        broker = Mosquitto(work / "broker").start()
        port = free_port()
        config = work / "config"
        demo.prepare(config, port)
        now = datetime.now(UTC)
        publish(broker.port)
        hass = subprocess.Popen(
            [str(REPO / ".venv/bin/hass"), "-c", str(config), "--skip-pip"],
            stdout=(work / "hass.log").open("wb"),
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONPATH": str(REPO)},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            api = demo.Api(url)
            api.wait_ready(300)
            api.log_in()
            api.set_up_mqtt(broker.port)
            if not api.confirm_bridges(timeout=60):
                raise SystemExit("the bridge was not discovered")
            replay(broker.port, now)
            print("rows:", wait_for_statistics(api, now, timeout=420))
            api.ws_command(
                "lovelace/dashboards/create",
                url_path=DASHBOARD_PATH,
                title="Back-fill",
                mode="storage",
                require_admin=False,
                show_in_sidebar=True,
            )
            api.ws_command("lovelace/config/save", url_path=DASHBOARD_PATH, config=DASHBOARD)
            screenshot(url, args.out)
            print(f"screenshot: {args.out}")
        finally:
            hass.terminate()
            hass.wait(60)
            broker.kill()
            print((work / "hass.log").read_text()[-3000:])


if __name__ == "__main__":
    main()
