"""The kiosk page in a real headless Chromium (Debian's ``chromium``), driven by Playwright.

The bridge runs as a process (``python -m iot_monitor_bridge run``) with the vending machine
of bridge/examples/vending.yaml on mock pins and a real Mosquitto; the page is opened on
loopback at 800x480, the Pi's touchscreen. Credit comes as Home Assistant would send it (an
MQTT ``fire credit`` command); the product, Pay and Cancel are tapped on the page. A
screenshot of each run is kept under ``.test-results/kiosk/``. Playwright drives the system's
browser: nothing is downloaded.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.test_kiosk import example
from tests.support.bridge_process import BridgeProcess
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder

ARTIFACTS = Path(__file__).parents[2] / ".test-results" / "kiosk"
BRIDGE = "vending-pi"
COMMAND = f"iot_monitor/{BRIDGE}/command"
RESULT = f"{COMMAND}/result"
WAIT_MS = 10_000

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("no chromium (scripts/setup installs Debian's)", allow_module_level=True)

pytestmark = pytest.mark.slow  # a browser and a bridge process: a few seconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 800, "height": 480})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    sync_api.expect.set_options(timeout=WAIT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == []  # no JavaScript error on the page


@pytest.fixture
def bridge(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[BridgeProcess]:
    settings = example(tmp_path, mosquitto.port)
    process = BridgeProcess(
        tmp_path,
        [mosquitto],
        settings["devices"],
        bridge={"id": BRIDGE, "name": "Vending Pi"},
        machines=settings["machines"],
        health={"enabled": False},
    )
    process.env["GPIOZERO_PIN_FACTORY"] = "mock"
    yield process
    process.close()


def _online(bridge: BridgeProcess, recorder: Recorder) -> None:
    def online(messages: list[Message]) -> bool:
        assert bridge.running, f"the bridge exited:\n{bridge.log}"
        topic = f"iot_monitor/{BRIDGE}/availability"
        return [m.payload for m in messages if m.topic == topic][-1:] == [b"online"]

    recorder.wait_for(online, what="the bridge online")


def _command(recorder: Recorder, command_id: str, **message: Any) -> dict[str, Any]:
    """Send a command as Home Assistant does and return its result."""
    recorder.publish(COMMAND, json.dumps({"id": command_id, **message}))

    def answered(messages: list[Message]) -> bool:
        return any(m.topic == RESULT and m.json()["id"] == command_id for m in messages)

    messages = recorder.wait_for(answered, what=f"the result of {command_id}")
    result: dict[str, Any] = next(
        m.json() for m in messages if m.topic == RESULT and m.json()["id"] == command_id
    )
    assert result["ok"] is True, result
    return result


def _screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-py{platform.python_version()}.png"
    page.screenshot(path=str(path))
    print(f"kiosk screenshot: {path}")
    return path


def test_a_purchase_from_the_page(
    bridge: BridgeProcess, recorder: Recorder, page: Any, mosquitto: Mosquitto
) -> None:
    expect = sync_api.expect
    bridge.start()
    _online(bridge, recorder)
    page.goto(f"http://127.0.0.1:{bridge.http_port}/kiosk")
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#state")).to_have_text("Choose a product")
    expect(page.locator("#mode")).to_have_text("")  # the Pi's own browser may press
    tile_a = page.locator('.product[data-slot="a"]')
    expect(tile_a.locator(".title")).to_have_text("Teh botol")
    expect(tile_a.locator(".price")).to_have_text("5,000 IDR")
    expect(tile_a.locator(".stock")).to_have_text("10 left")
    expect(page.locator("#pay")).to_be_disabled()

    page.locator('.product[data-slot="c"]').click()  # 8,000 IDR with no credit yet
    expect(page.locator("#selection")).to_have_text("Kopi susu · 8,000 IDR")
    expect(page.locator("#hint")).to_have_text("Insert 8,000 IDR more")
    page.locator("#pay").click()
    expect(page.locator("#message")).to_have_text("credit 0 is less than the price 8000 of slot c")
    expect(page.locator("#message")).to_have_class("error")

    _command(
        recorder, "c1", command="fire", machine="vending", event="credit", data={"amount": 5000}
    )
    expect(page.locator("#credit")).to_have_text("5,000 IDR")
    tile_a.click()
    expect(page.locator("#state")).to_have_text("Insert coins, then press Pay")
    expect(page.locator("#selection")).to_have_text("Teh botol · 5,000 IDR")
    expect(tile_a).to_have_class("product selected")
    expect(page.locator("#hint")).to_have_text("")
    shot = _screenshot(page, "awaiting-payment")
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one

    page.locator("#pay").click()
    expect(page.locator("body")).to_have_attribute("data-state", "dispensing")
    expect(page.locator("#state")).to_have_text("Dispensing…")
    expect(page.locator("#credit")).to_have_text("0 IDR")
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(tile_a.locator(".stock")).to_have_text("9 left")
    expect(page.locator("#selection")).to_have_text("Nothing yet")
    _screenshot(page, "after-sale")


def test_the_screen_follows_mqtt_and_comes_back_after_a_restart(
    bridge: BridgeProcess, recorder: Recorder, page: Any
) -> None:
    expect = sync_api.expect
    bridge.start()
    _online(bridge, recorder)
    page.goto(f"http://127.0.0.1:{bridge.http_port}/kiosk/vending")
    expect(page.locator("#state")).to_have_text("Choose a product")

    _command(recorder, "o1", command="set_state", machine="vending", state="out_of_service")
    expect(page.locator("#state")).to_have_text("Out of service")
    expect(page.locator(".product").first).to_be_disabled()
    _screenshot(page, "out-of-service")
    _command(recorder, "o2", command="set_state", machine="vending", state="idle")
    expect(page.locator("#state")).to_have_text("Choose a product")

    _command(recorder, "r1", command="restock", machine="vending", slot="c", count=4)
    tile_c = page.locator('.product[data-slot="c"]')
    expect(tile_c.locator(".stock")).to_have_text("10 left")
    _command(recorder, "p1", command="set_price", machine="vending", slot="c", price=7500)
    expect(tile_c.locator(".price")).to_have_text("7,500 IDR")

    tile_c.click()
    expect(page.locator("#state")).to_have_text("Insert coins, then press Pay")
    page.locator("#cancel").click()
    expect(page.locator("#state")).to_have_text("Choose a product")

    bridge.stop()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#status")).to_have_text("offline")
    bridge.start()
    expect(page.locator("#offline")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("online")
    expect(tile_c.locator(".price")).to_have_text("7,500 IDR")  # from the ledger
