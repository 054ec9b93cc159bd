"""The demo's dashboard in a real browser: Debian's Chromium, driven by Playwright.

``scripts/demo`` runs Mosquitto, the bridge (8 simulated devices, the vending machine and a fan
on mock pins) and Home Assistant with this integration; it onboards Home Assistant over its
REST API and makes the dashboard over the websocket API. The test logs in through the real
login page and checks what a user sees: the fleet card's 8 rows with values that move, the
broker and connectivity; the cards' picker entries and editors; a purchase on the vending card
(a product, pay refused for want of credit, credit, pay) that the bridge carries out, which
the card follows through dispensing back to idle with one product less; a restock and a new
price; a threshold crossing on the fleet card; the editor in Home Assistant's card dialog;
the cards in Bahasa Indonesia. Screenshots are kept under ``.test-results/dashboard/``.
Nothing downloads a browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.contract.topics import Topics
from scripts.demo_homeassistant import PASSWORD, USERNAME, Api
from tests.integration.test_demo import Demo, running_demo
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.mosquitto import MOSQUITTO
from tests.support.mqtt_client import Message, Recorder

ARTIFACTS = Path(__file__).parents[2] / ".test-results" / "dashboard"
FLEET_SIZE = 8
WAIT_MS = 30_000
"""Statistics are over 10 s windows: a value moves within a few of them."""
BRIDGE = "demo-pi"
MACHINE_DEVICE = "vending_machine"

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [
    pytest.mark.demo,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium (scripts/setup)"),
    pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed"),
]

PICKER = """
async () => {
  const hass = document.querySelector("home-assistant").hass;
  const card = (type) => customElements.get(type);
  const editor = async (type) => {
    const element = card(type).getConfigElement();
    element.hass = hass;
    element.setConfig({ type: `custom:${type}` });
    document.body.append(element);
    const options = () =>
      element.shadowRoot?.querySelector("ha-form")?.schema.find((field) => field.selector.select)
        .selector.select.options ?? [];
    // The layout's answer: within 600 frames (10 s), or the test sees no choices.
    for (let frame = 0; frame < 600 && !options().length; frame++) {
      await new Promise(requestAnimationFrame);
    }
    element.remove();
    return options();
  };
  return {
    types: window.customCards.map((entry) => entry.type).filter((t) => t.startsWith("iot-")),
    fleet: await card("iot-monitor-fleet-card").getStubConfig(hass),
    vending: await card("iot-monitor-vending-card").getStubConfig(hass),
    bridges: (await editor("iot-monitor-fleet-card")).map((option) => option.value),
    machines: (await editor("iot-monitor-vending-card")).map((option) => option.value),
  };
}
"""
"""Each card's picker entry, its stub config, and the choices its editor offers."""


@pytest.fixture
def demo(socket_enabled: None, tmp_path: Path) -> Iterator[Demo]:
    """The demo without its simulated customer, so that the test's purchase is the only one."""
    with running_demo(tmp_path, IOT_MONITOR_DEMO_CUSTOMER_EVERY="86400") as running:
        running.wait_until_ready()
        yield running


@pytest.fixture
def page(demo: Demo) -> Iterator[Any]:
    """A logged-in tab on the demo's default page; no JavaScript error may happen in it."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 960})
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(demo.url)
        tab.locator("input[name=username]").fill(USERNAME)
        tab.locator("input[name=password]").fill(PASSWORD)
        tab.keyboard.press("Enter")
        tab.wait_for_url(f"{demo.url}/iot-monitor/**")
        # The bundle, a module the frontend loads beside its own, defines both cards.
        tab.evaluate(
            "Promise.all(['iot-monitor-fleet-card', 'iot-monitor-vending-card']"
            ".map((name) => customElements.whenDefined(name)))"
        )
        # Home Assistant draws a card whose element is not defined yet as an error card and
        # rebuilds it once defined; on a loaded machine that rebuild can be missed, and a
        # reload shows the card (docs/integration.md, "Cards").
        tab.locator("iot-monitor-fleet-card .device-row, hui-error-card").first.wait_for()
        if tab.locator("hui-error-card").count():
            tab.reload()
            tab.wait_for_url(f"{demo.url}/iot-monitor/**")
        yield tab
        screenshot(tab, "last")  # where it ended, also when the test failed
        browser.close()
    assert errors == []


def screenshot(shown: Any, name: str) -> None:
    """The page, or one card, as the user sees it now."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shown.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")


def add_threshold_below(demo: Demo, device_id: str) -> dict[str, Any]:
    """A threshold 5 degrees under the device's mean temperature now; the flow's result."""
    api = Api(demo.url)
    api.log_in()
    bridge = api.layout(timeout=30)
    (device,) = (device for device in bridge["devices"] if device["id"] == device_id)
    mean = api.number(device["sensors"][0]["mean"])
    assert mean is not None
    _, flow = api.call(
        "POST",
        "/api/config/config_entries/subentries/flow",
        {"handler": [bridge["entry_id"], "threshold"]},
    )
    _, created = api.call(
        "POST",
        f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
        {
            "sensor": f"{device_id}/temperature",
            "statistic": "mean",
            "upper": round(mean - 5, 1),
            "hysteresis": 0,
            "reaction": {"cooldown": 60},
        },
    )
    result: dict[str, Any] = created
    return result


def test_fleet_vending_and_thresholds_on_the_dashboard(demo: Demo, page: Any) -> None:
    fleet = page.locator("iot-monitor-fleet-card")
    rows = fleet.locator(".device-row")
    temperatures = rows.locator("[data-sensor=temperature] .value")
    expect(rows).to_have_count(FLEET_SIZE)
    expect(temperatures).to_have_text([re.compile(r"^\d+\.\d$")] * FLEET_SIZE)
    expect(fleet.locator(".chip.online")).to_be_visible()
    expect(fleet.locator(".chip.broker")).to_have_text(f"127.0.0.1:{demo.broker_port}")
    first = temperatures.all_inner_texts()
    expect(temperatures).not_to_have_text(first)  # the next window moves them
    screenshot(fleet, "fleet-card")

    # What the card picker and the visual editors get from the cards.
    assert page.evaluate(PICKER) == {
        "types": ["iot-monitor-fleet-card", "iot-monitor-vending-card"],
        "fleet": {"bridge": BRIDGE},
        "vending": {"bridge": BRIDGE, "machine": "vending"},
        "bridges": [BRIDGE],
        "machines": [f"{BRIDGE}/vending"],
    }

    # A purchase: a product, pay (refused), credit, pay; the bridge dispenses, the card follows.
    vending = page.locator("iot-monitor-vending-card")
    state = vending.locator(".state")
    product = vending.locator(".product[data-slot=b]")
    expect(state).to_have_attribute("data-state", "idle")
    stock = int(product.locator(".stock").get_attribute("data-stock") or "")
    price = int(product.locator(".price").get_attribute("data-price") or "")
    stock_topic = Topics("iot_monitor", BRIDGE).state(MACHINE_DEVICE, "stock_b")
    recorder = Recorder(demo.broker_port, stock_topic)
    try:
        product.locator(".select").click()
        expect(state).to_have_attribute("data-state", "awaiting_payment")
        expect(product).to_have_class(re.compile(r"\bselected\b"))
        vending.locator(".pay").click()  # no credit yet: the bridge refuses, the card says why
        expect(vending.locator(".message.error")).to_contain_text("insufficient_credit")
        vending.locator(".credit-button").last.click()  # the largest amount
        expect(vending.locator(".amount")).not_to_have_attribute("data-credit", "0")
        credit = int(vending.locator(".amount").get_attribute("data-credit") or "")
        assert credit >= price
        screenshot(vending, "vending-card-selected")
        vending.locator(".pay").click()
        expect(state).to_have_attribute("data-state", "dispensing")  # the 2 s dispense pulse
        screenshot(vending, "vending-card-dispensing")
        expect(state).to_have_attribute("data-state", "idle")
        expect(product.locator(".stock")).to_have_attribute("data-stock", str(stock - 1))
        expect(vending.locator(".amount")).to_have_attribute("data-credit", "0")  # change given

        def sold(messages: list[Message]) -> bool:
            return any(m.json()["v"] == stock - 1 for m in messages)

        recorder.wait_for(sold, what="the bridge's stock of slot b, one less")
    finally:
        recorder.close()

    # An administrator's restock and new price, through the restock and set_price actions.
    vending.locator(".manage").click()
    kopi = vending.locator(".product[data-slot=c]")
    kopi_stock = int(kopi.locator(".stock").get_attribute("data-stock") or "")
    kopi.locator(".restock").click()
    expect(kopi.locator(".stock")).to_have_attribute("data-stock", str(kopi_stock + 10))
    kopi.locator(".price-edit input").fill("8500")
    kopi.locator(".set-price").click()
    expect(kopi.locator(".price")).to_have_attribute("data-price", "8500")
    screenshot(vending, "vending-card-manage")
    vending.locator(".manage").click()

    # A threshold the first device's mean temperature is over: it trips on the next window.
    # Added over the REST API from a thread of its own: Playwright's loop runs in this one.
    with ThreadPoolExecutor(1) as pool:
        created = pool.submit(add_threshold_below, demo, "fleet_1").result()
    assert created["type"] == "create_entry", created
    row = fleet.locator(".device-row[data-device=fleet_1]")
    expect(row).to_have_class(re.compile(r"\bproblem\b"))
    expect(row.locator("[data-sensor=temperature]")).to_have_class(re.compile(r"\bproblem\b"))
    expect(fleet.locator(".chip.crossed")).to_be_visible()
    screenshot(page, "dashboard-threshold-crossed")

    # The visual editor, in Home Assistant's own card dialog.
    page.get_by_role("button", name="Edit dashboard").click()
    fleet.click(force=True)  # in edit mode a click on a card opens its editor
    editor = page.locator("iot-monitor-fleet-card-editor ha-form")
    expect(editor).to_be_visible()
    expect(editor).to_contain_text("Demo Pi")
    screenshot(page, "fleet-card-editor")

    # The cards speak the user's language: Bahasa Indonesia, chosen as the profile page does.
    page.evaluate("localStorage.setItem('selectedLanguage', JSON.stringify('id'))")
    page.reload()
    expect(vending.locator(".state")).to_have_text("Siaga")
    expect(fleet.locator(".note")).to_have_text(re.compile(r"^Jendela terakhir"))
    expect(vending.locator(".pay")).to_have_text("Bayar")
    screenshot(page, "dashboard-id")
