"""The kiosk page's latency in a real Chromium on loopback, and what the page costs in memory.

Everything is real and on this machine: a private Mosquitto, the bridge as a process
(``python -m iot_monitor_bridge run``) with the simulated fleet (8 devices x 4 readings/s),
its health sensors and the vending machine of bridge/examples/vending.yaml on mock pins, and
Debian's Chromium (headless, 800x480) driven by Playwright.

- Latency: the page taps product a, then b, then a ... (``--clicks``); each tap is a
  ``select`` over the websocket, committed to the ledger (fsync) and pushed back as the new
  state. Measured in the page with ``performance.now()``: from the click to the tile drawn
  selected (a ``MutationObserver`` on its class), and to the next animation frame after that
  (the screen). The first taps are left out (``--warmup``). Goal: p99 <= 100 ms.
- Baseline, in the same run and page: a bare websocket echo round trip to a ``websockets``
  echo server in this process, updating a DOM node the same way. The ratio says what the
  bridge adds to the browser's and the socket's own cost.
- Memory: the bridge's peak RSS (``VmHWM``) over ``--rss-seconds`` with the same config,
  once with ``http: {enabled: false}`` (no endpoint, no kiosk) and once with the kiosk page
  open in Chromium and clicked; and the RSS that importing ``websockets``' server adds to an
  interpreter that has imported asyncio (what the bridge already holds). Budget: <= 45 MB.

    .venv-bridge311/bin/python bench/kiosk_latency.py [--clicks 200] [--rss-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import sync_playwright
from websockets.asyncio.server import ServerConnection, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iot_monitor_bridge.config import _Loader
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.mosquitto import Mosquitto, free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "bridge" / "examples" / "vending.yaml"
GOAL_P99_MS = 100.0
BUDGET_MB = 45.0

TAPS = """
async ([count]) => {
  const toDom = [], toFrame = [];
  for (let i = 0; i < count; i++) {
    const tile = document.querySelector(`.product[data-slot="${i % 2 ? "b" : "a"}"]`);
    let t0 = 0;
    const drawn = new Promise((resolve) => {
      const watch = new MutationObserver(() => {
        if (!tile.classList.contains("selected")) return;
        watch.disconnect();
        const dom = performance.now() - t0;
        requestAnimationFrame(() => resolve([dom, performance.now() - t0]));
      });
      watch.observe(tile, { attributes: true, attributeFilter: ["class"] });
    });
    t0 = performance.now();
    tile.click();
    const [dom, frame] = await drawn;
    toDom.push(dom);
    toFrame.push(frame);
  }
  return [toDom, toFrame];
}
"""

ECHOES = """
async ([url, count]) => {
  const socket = new WebSocket(url);
  await new Promise((resolve) => { socket.onopen = resolve; });
  const node = document.createElement("span");
  document.body.append(node);
  const toDom = [], toFrame = [];
  for (let i = 0; i < count; i++) {
    let t0 = 0;
    const drawn = new Promise((resolve) => {
      const watch = new MutationObserver(() => {
        watch.disconnect();
        const dom = performance.now() - t0;
        requestAnimationFrame(() => resolve([dom, performance.now() - t0]));
      });
      watch.observe(node, { attributes: true });
      socket.onmessage = (event) => { node.className = "echo-" + event.data; };
    });
    t0 = performance.now();
    socket.send(String(i));
    const [dom, frame] = await drawn;
    toDom.push(dom);
    toFrame.push(frame);
  }
  socket.close();
  node.remove();
  return [toDom, toFrame];
}
"""


def bridge_config(broker: int, http_port: int, state_dir: Path, *, http: bool) -> str:
    """Fleet, health and the example's vending machine (no fridge thermometer: in service)."""
    example: dict[str, Any] = yaml.load(EXAMPLE.read_text(encoding="utf-8"), Loader=_Loader)
    example["devices"][0].pop("sensors")
    machine = example["machines"][0]
    for key in ("out_of_service", "back_in_service"):
        machine["vending"].pop(key)
    example.update(
        bridge={"id": "bench-kiosk", "name": "Bench kiosk"},
        mqtt={"brokers": [{"host": "127.0.0.1", "port": broker}]},
        http={"enabled": http, "port": http_port, "bind": "127.0.0.1"},
        zeroconf={"enabled": False},
        state_dir=str(state_dir),
        log_level="warning",
        devices=[
            *example["devices"],
            {"id": "fleet", "simulate": {"count": 8, "rate_hz": 4}},
        ],
    )
    return yaml.safe_dump(example)


def start_bridge(workdir: Path, broker: int, *, http: bool) -> tuple[subprocess.Popen[bytes], int]:
    workdir.mkdir()
    http_port = free_port()
    config = workdir / "bridge.yaml"
    config.write_text(bridge_config(broker, http_port, workdir / "state", http=http))
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
    process = subprocess.Popen(
        [sys.executable, "-m", "iot_monitor_bridge", "run", "--config", str(config)], env=env
    )
    return process, http_port


def peak_rss_mb(process: subprocess.Popen[bytes]) -> float:
    """The process's peak RSS since it exec'd the bridge (``VmHWM``), then stop it."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
            break
    else:
        raise RuntimeError("no VmHWM")
    process.terminate()
    if process.wait(30) != 0:
        raise RuntimeError(f"the bridge exited with {process.returncode}")
    return peak_kb / 1024


class EchoServer:
    """The baseline: a bare ``websockets`` echo server on its own loop and thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the echo server did not start")

    async def _run(self) -> None:
        async def echo(connection: ServerConnection) -> None:
            async for message in connection:
                await connection.send(message)

        self._stop = asyncio.Event()
        async with serve(echo, "127.0.0.1", self.port, compression=None):
            self._ready.set()
            await self._stop.wait()

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


def import_cost_mb() -> float:
    """RSS that ``websockets``' asyncio server adds to an interpreter holding asyncio."""
    code = (
        "import asyncio, json, logging, sqlite3\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'): return int(line.split()[1])\n"
        "before = rss()\n"
        "import websockets.asyncio.server\n"
        "print((rss() - before) / 1024)\n"
    )
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:44s} p50 {percentile(values, 50):6.2f}  p99 {percentile(values, 99):6.2f}  "
        f"max {max(values):6.2f} ms"
    )


@dataclass
class Results:
    """Milliseconds per tap (to the DOM, to the next frame) and peak RSS in MB."""

    browser: str = ""
    kiosk: tuple[list[float], list[float]] = ([], [])
    echo: tuple[list[float], list[float]] = ([], [])
    kiosk_rss: float = 0.0
    plain_rss: float = 0.0


def tap_in_chromium(http_port: int, echo_port: int, taps: int, results: Results) -> None:
    """Open the kiosk page, tap ``taps`` times, then the same number of bare echoes."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 800, "height": 480})
        page.set_default_timeout(30_000)
        for _ in range(300):  # the bridge is starting: its port opens within seconds
            try:
                page.goto(f"http://127.0.0.1:{http_port}/kiosk")
                break
            except Exception:  # noqa: BLE001 - connection refused until it listens
                time.sleep(0.1)
        page.wait_for_selector("#status:text('online')")
        page.wait_for_selector('.product[data-slot="a"]:not([disabled])')
        results.kiosk = page.evaluate(TAPS, [taps])
        results.echo = page.evaluate(ECHOES, [f"ws://127.0.0.1:{echo_port}", taps])
        results.browser = browser.version
        browser.close()


def measure(clicks: int, rss_seconds: float) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-kiosk-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        echo = EchoServer()
        try:
            started = time.monotonic()
            process, http_port = start_bridge(workdir / "kiosk", broker.port, http=True)
            tap_in_chromium(http_port, echo.port, clicks, results)
            time.sleep(max(0.0, rss_seconds - (time.monotonic() - started)))  # the fleet runs on
            results.kiosk_rss = peak_rss_mb(process)
            plain, _ = start_bridge(workdir / "plain", broker.port, http=False)
            time.sleep(rss_seconds)
            results.plain_rss = peak_rss_mb(plain)
        finally:
            echo.close()
            broker.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rss-seconds", type=float, default=20.0)
    args = parser.parse_args()
    results = measure(args.clicks + args.warmup, args.rss_seconds)
    websockets_mb = import_cost_mb()
    kiosk_dom, kiosk_frame = (values[args.warmup :] for values in results.kiosk)
    echo_dom, echo_frame = (values[args.warmup :] for values in results.echo)
    print(
        f"python {sys.version.split()[0]}, Chromium {results.browser} headless 800x480, "
        f"{args.clicks} taps (after {args.warmup}), load average {os.getloadavg()[0]:.1f}"
    )
    print(summary("kiosk tap -> tile drawn selected (DOM)", kiosk_dom))
    print(summary("kiosk tap -> next frame (screen)", kiosk_frame))
    print(summary("baseline: websocket echo -> DOM", echo_dom))
    print(summary("baseline: websocket echo -> next frame", echo_frame))
    ratio = percentile(kiosk_dom, 50) / percentile(echo_dom, 50)
    print(f"ratio, kiosk / bare websocket echo, p50 to the DOM: {ratio:6.2f}")
    goal = "met" if percentile(kiosk_frame, 99) <= GOAL_P99_MS else "NOT met"
    print(f"goal p99 <= {GOAL_P99_MS:.0f} ms to the screen: {goal}")
    print(f"peak RSS (VmHWM), {args.rss_seconds:.0f} s, fleet 8 x 4 Hz + health + vending:")
    print(f"  {'HTTP off (no endpoint, no kiosk)':44s} {results.plain_rss:6.1f} MB")
    print(
        f"  {'HTTP + kiosk, page open and tapped':44s} {results.kiosk_rss:6.1f} MB"
        f"   (budget <= {BUDGET_MB:.0f})"
    )
    print(f"  {'difference':44s} {results.kiosk_rss - results.plain_rss:6.1f} MB")
    print(f"importing websockets' asyncio server (median of 5): {websockets_mb:.1f} MB")


if __name__ == "__main__":
    main()
