"""The fleet card in a real Chromium: from page load to every fleet row drawn with its values.

Everything is real and on this machine: ``scripts/demo`` (Mosquitto, the bridge with a
simulated fleet of ``--devices`` devices at 4 readings/s each, the vending machine, Home
Assistant with this integration), and Debian's Chromium (headless, 1440x960) driven by
Playwright, logged in once through the login page.

- Measured: a dashboard with the fleet card alone, loaded afresh (``page.goto``) ``--loads``
  times; in the page, ``performance.now()`` (time since the navigation started) when the card
  shows a row per device, each with a number. Goal: <= 1 s for 8 devices, <= 2 s for 100.
- Baseline, in the same run and browser, loads interleaved: a dashboard with no card, when
  its view is drawn: Home Assistant's own page load (the app, the login token, the websocket,
  the dashboard's config), which any card waits for. The ratio says what the card adds.

    .venv/bin/python bench/card_render.py [--devices 8] [--loads 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.demo_homeassistant import PASSWORD, USERNAME, Api
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.mosquitto import free_port

REPO = Path(__file__).resolve().parents[1]
GOAL_S = {8: 1.0, 100: 2.0}

# Runs in the page at every animation frame: finds the card through the open shadow roots
# once, then reads its rows; returns performance.now() once the condition holds.
_DEEP_FIND = """
(tag) => {
  if (!window.__benchCard) {
    const walk = (root) => {
      for (const el of root.querySelectorAll("*")) {
        if (el.localName === tag) return el;
        if (el.shadowRoot) {
          const found = walk(el.shadowRoot);
          if (found) return found;
        }
      }
      return undefined;
    };
    window.__benchCard = walk(document);
  }
  return window.__benchCard;
}
"""
FLEET_DRAWN = """
(count) => {
  const card = (FIND)("iot-monitor-fleet-card");
  const values = card?.shadowRoot?.querySelectorAll(".device-row [data-sensor=temperature] .value");
  if (!values || values.length !== count) return false;
  for (const value of values) if (!/\\d/.test(value.textContent)) return false;
  return performance.now();
}
""".replace("FIND", _DEEP_FIND)
VIEW_DRAWN = """
() => ((FIND)("hui-masonry-view")?.shadowRoot ? performance.now() : false)
""".replace("FIND", _DEEP_FIND)


def dashboards(api: Api, bridge_id: str) -> None:
    """A dashboard with the fleet card alone and one with no card."""
    existing = {board["url_path"] for board in api.ws_command("lovelace/dashboards/list")}
    for url_path, cards in (
        ("bench-fleet", [{"type": "custom:iot-monitor-fleet-card", "bridge": bridge_id}]),
        ("bench-bare", []),
    ):
        if url_path not in existing:
            api.ws_command("lovelace/dashboards/create", url_path=url_path, title=url_path)
        config = {"views": [{"path": "main", "cards": cards}]}
        api.ws_command("lovelace/config/save", url_path=url_path, config=config)


def load_time(page: Page, url: str, condition: str, argument: Any) -> float:
    """Seconds from the start of the navigation to ``condition`` holding in the page."""
    page.goto(url)
    handle = page.wait_for_function(condition, arg=argument, polling="raf", timeout=60_000)
    return float(handle.json_value()) / 1000


def start_demo(directory: Path, devices: int) -> tuple[subprocess.Popen[bytes], int]:
    ha_port = free_port()
    env = os.environ | {
        "IOT_MONITOR_DEMO_DIR": str(directory),
        "IOT_MONITOR_DEMO_PORT": str(free_port()),
        "IOT_MONITOR_DEMO_HA_PORT": str(ha_port),
        "IOT_MONITOR_DEMO_FLEET": str(devices),
        "IOT_MONITOR_DEMO_CUSTOMER_EVERY": "86400",
    }
    with (directory / "output.log").open("wb") as output:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "demo")],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 600
    setup_log = directory / "homeassistant-setup.log"
    while "Home Assistant ready" not in (setup_log.read_text() if setup_log.exists() else ""):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the demo did not get ready; see {directory}")
        time.sleep(1)
    return process, ha_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="card-render-") as tmp:
        process, ha_port = start_demo(Path(tmp), args.devices)
        url = f"http://127.0.0.1:{ha_port}"
        try:
            api = Api(url)
            api.log_in()
            bridge = api.layout(timeout=300)
            assert len(bridge["devices"]) == args.devices, bridge["devices"]
            dashboards(api, bridge["id"])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 960})
                page.goto(url)
                page.locator("input[name=username]").fill(USERNAME)
                page.locator("input[name=password]").fill(PASSWORD)
                page.keyboard.press("Enter")
                page.wait_for_url(f"{url}/iot-monitor/**")
                fleet: list[float] = []
                bare: list[float] = []
                for _ in range(args.loads + 1):  # the first of each warms the caches
                    bare.append(load_time(page, f"{url}/bench-bare/main", VIEW_DRAWN, None))
                    fleet.append(
                        load_time(page, f"{url}/bench-fleet/main", FLEET_DRAWN, args.devices)
                    )
                browser.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(120)
    fleet, bare = fleet[1:], bare[1:]
    goal = GOAL_S.get(args.devices)
    print(f"fleet card, {args.devices} devices, {args.loads} page loads in Chromium")
    for name, times in (("fleet card", fleet), ("baseline: empty view", bare)):
        print(
            f"  {name:<24} median {statistics.median(times) * 1000:6.0f} ms"
            f"  max {max(times) * 1000:6.0f} ms"
        )
    ratio = statistics.median(fleet) / statistics.median(bare)
    print(f"  ratio fleet / baseline (medians): {ratio:.2f}")
    if goal is not None:
        verdict = "met" if max(fleet) <= goal else "MISSED"
        print(f"  goal: every load <= {goal:g} s: {verdict}")


if __name__ == "__main__":
    main()
