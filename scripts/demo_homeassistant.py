"""Home Assistant for the demo: a config directory, onboarding, MQTT, the integration, a dashboard.

Before start-up, Home Assistant's own stores get the demo owner, onboarding marked done and
the HTTP server on loopback. Everything after start-up goes through Home Assistant's HTTP APIs,
as a person in the browser would: the login flow, the config-flow API to set up MQTT against
the demo broker, the bridge's MQTT discovery, which offers iot_monitor to confirm, a threshold
(a config subentry) that switches the demo's fan, and a dashboard (websocket API), the default
page, with the fleet card, the vending card, the thresholds and the fan.

    python scripts/demo_homeassistant.py prepare CONFIG_DIR --port 8123
    python scripts/demo_homeassistant.py onboard --url http://127.0.0.1:8123 --broker-port 1883
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.auth import auth_manager_from_config
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.providers import homeassistant as hass_auth
from homeassistant.components.http.config import ConfData, HTTPConfigStore
from homeassistant.config_entries import ConfigEntries
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store

USERNAME = "demo"
PASSWORD = "demo-iot-monitor"  # noqa: S105 - the documented demo login, local only
CLIENT_ID = "http://127.0.0.1/"
DASHBOARD = "iot-monitor"
"""The demo dashboard's URL path (``/iot-monitor``), the default page."""
FAN_DEVICE = "cooler"
FAN_OUTPUT = "fan"
"""The demo's output, on a mock pin (scripts/demo adds it to the bridge's configuration)."""
REPO = Path(__file__).resolve().parent.parent

CONFIGURATION = """\
# Home Assistant for the iot-monitor demo (made by scripts/demo; safe to delete).
homeassistant:
  name: iot-monitor demo
  unit_system: metric
  time_zone: UTC
  country: ID
  currency: IDR
  latitude: -6.2
  longitude: 106.8
  elevation: 8
frontend:
config:
recorder:
  purge_keep_days: 2
history:
logbook:
logger:
  default: warning
  logs:
    custom_components.iot_monitor: info
"""


async def configure(config_dir: Path, port: int) -> None:
    """Create the demo owner, mark onboarding done and set the HTTP server, offline.

    Done with Home Assistant's own stores (like ``hass --script auth``): the onboarding
    wizard would also set up weather, radio and text-to-speech integrations, and HTTP settings
    in YAML are a trial since 2026.10 that reverts (and restarts) after five minutes unless
    confirmed in the UI. Stored as confirmed, the server listens on loopback only.
    """
    hass = HomeAssistant(str(config_dir))
    hass.config_entries = ConfigEntries(hass, {})
    await hass.config_entries.async_initialize()
    dr.async_setup(hass)
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    provider = hass.auth.auth_providers[0]
    assert isinstance(provider, hass_auth.HassAuthProvider)
    await provider.async_initialize()
    http = HTTPConfigStore(hass)
    await http.async_set_pending(
        ConfData(**{**http.default, "server_host": ["127.0.0.1"], "server_port": port})
    )
    if http.pending is not None:
        await http.async_promote_pending()
    await http.async_mark_yaml_migration_done()
    if not await hass.auth.async_get_users():
        await provider.async_add_auth(USERNAME, PASSWORD)
        user = await hass.auth.async_create_user("Demo", group_ids=[GROUP_ID_ADMIN])
        credentials = await provider.async_get_or_create_credentials({"username": USERNAME})
        await hass.auth.async_link_user(user, credentials)
    onboarding = Store[dict[str, list[str]]](hass, 4, "onboarding", private=True)
    await onboarding.async_save({"done": ["user", "core_config", "analytics", "integration"]})
    await hass.async_stop(force=True)


def prepare(config_dir: Path, port: int) -> None:
    """Write the configuration, link the integration from this checkout, set up the stores."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / "iot_monitor"
    if not link.is_symlink():
        link.symlink_to(REPO / "custom_components" / "iot_monitor")
    asyncio.run(configure(config_dir, port))


class Api:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None

    def call(
        self, method: str, path: str, body: Any = None, *, form: bool = False
    ) -> tuple[int, Any]:
        data = None
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - loopback URL given by scripts/demo
            self.url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _ = self.call("GET", "/api/onboarding")
            except OSError:
                status = 0
            if status in (200, 401, 404):
                return
            time.sleep(1)
        raise SystemExit(f"Home Assistant did not answer at {self.url} within {timeout:.0f} s")

    def token_from_code(self, code: str) -> None:
        status, body = self.call(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
            form=True,
        )
        if status != 200:
            raise SystemExit(f"token exchange failed: {status} {body}")
        self.token = body["access_token"]

    def log_in(self) -> None:
        """Log in with the demo credentials through the login flow, as the browser does."""
        _, flow = self.call(
            "POST",
            "/auth/login_flow",
            {"client_id": CLIENT_ID, "handler": ["homeassistant", None], "redirect_uri": CLIENT_ID},
        )
        _status, result = self.call(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": USERNAME, "password": PASSWORD},
        )
        if result.get("type") != "create_entry":
            raise SystemExit(f"login failed: {result}")
        self.token_from_code(result["result"])

    def entries(self, domain: str) -> list[dict[str, Any]]:
        _, body = self.call("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(body or [])

    def set_up_mqtt(self, broker_port: int) -> None:
        if self.entries("mqtt"):
            return
        _, flow = self.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        while flow.get("type") == "menu":
            _, flow = self.call(
                "POST",
                f"/api/config/config_entries/flow/{flow['flow_id']}",
                {"next_step_id": "broker"},
            )
        _, result = self.call(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {
                "broker": "127.0.0.1",
                "port": broker_port,
                "other_settings": {"set_client_cert": False, "set_ca_cert": "off"},
            },
        )
        if result.get("type") != "create_entry":
            raise SystemExit(f"MQTT set-up failed: {result}")

    def ws_command(self, message_type: str, **fields: Any) -> Any:
        """One command over the websocket API, on a connection of its own; its result."""

        async def fetch() -> Any:
            ws_url = self.url.replace("http", "ws", 1) + "/api/websocket"
            async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
                await ws.receive_json()  # auth_required
                await ws.send_json({"type": "auth", "access_token": self.token})
                await ws.receive_json()  # auth_ok
                await ws.send_json({"id": 1, "type": message_type, **fields})
                reply = await ws.receive_json()
                return reply.get("result")

        return asyncio.run(fetch())

    def flows_in_progress(self) -> list[dict[str, Any]]:
        """Discovered flows are listed only over the websocket API (as the UI does)."""
        return list(self.ws_command("config_entries/flow/progress") or [])

    def layout(self, timeout: float) -> dict[str, Any]:
        """The cards' layout of the demo's bridge once its means, fan and thresholds exist."""
        deadline = time.monotonic() + timeout
        while True:
            bridges = (self.ws_command("iot_monitor/cards/layout") or {}).get("bridges", [])
            if bridges and bridges[0]["devices"] and bridges[0]["machines"]:
                bridge: dict[str, Any] = bridges[0]
                means = [device["sensors"][0]["mean"] for device in bridge["devices"]]
                named = all(threshold["entity_id"] for threshold in bridge["thresholds"])
                if named and self.fan_entity_id(bridge["id"]) and all(map(self.number, means)):
                    return bridge
            if time.monotonic() > deadline:
                raise SystemExit(f"the bridge's devices did not show within {timeout:.0f} s")
            time.sleep(1)

    def number(self, entity_id: str | None) -> float | None:
        """An entity's state as a number, ``None`` when it has none (yet)."""
        status, state = self.call("GET", f"/api/states/{entity_id}")
        try:
            return float(state["state"]) if status == 200 else None
        except ValueError:
            return None

    def fan_entity_id(self, bridge_id: str) -> str | None:
        """The switch of the demo's output (the bridge's discovery makes it)."""
        wanted = f"iot_monitor/{bridge_id}/{FAN_DEVICE}/{FAN_OUTPUT}"
        for entity in self.ws_command("config/entity_registry/list") or []:
            if entity["unique_id"] == wanted and entity["platform"] == "mqtt":
                return str(entity["entity_id"])
        return None

    def add_threshold(self, bridge: dict[str, Any]) -> None:
        """A limit on the mean temperature of the warmest device, just under its mean now.

        So it trips within a window or two and the fan goes on, and goes off when the mean
        falls back; a user sees the loop closed and changes the limit in the threshold's
        settings.
        """
        if bridge["thresholds"]:
            return
        means = {
            device["id"]: self.number(device["sensors"][0]["mean"]) or 0.0
            for device in bridge["devices"]
        }
        warmest = max(means, key=lambda device: means[device])
        fan = {"device": FAN_DEVICE, "output": FAN_OUTPUT}
        _, flow = self.call(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [bridge["entry_id"], "threshold"]},
        )
        _, result = self.call(
            "POST",
            f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
            {
                "sensor": f"{warmest}/temperature",
                "statistic": "mean",
                "upper": round(means[warmest] - 0.3, 1),
                "hysteresis": 0.2,
                "reaction": {
                    "trip_command": "set_output",
                    "trip_arguments": fan | {"state": True},
                    "clear_command": "set_output",
                    "clear_arguments": fan | {"state": False},
                    "cooldown": 30,
                },
            },
        )
        if result.get("type") != "create_entry":
            raise SystemExit(f"adding the threshold failed: {result}")

    def save_dashboard(self, bridge: dict[str, Any]) -> None:
        """The demo's dashboard, made the one every user opens on (not the generated Overview)."""
        if not any(
            board["url_path"] == DASHBOARD for board in self.ws_command("lovelace/dashboards/list")
        ):
            self.ws_command(
                "lovelace/dashboards/create",
                url_path=DASHBOARD,
                title="iot-monitor",
                icon="mdi:raspberry-pi",
                mode="storage",
            )
        config = dashboard(bridge, self.fan_entity_id(bridge["id"]))
        self.ws_command("lovelace/config/save", url_path=DASHBOARD, config=config)
        if self.ws_command("lovelace/config", url_path=DASHBOARD) != config:
            raise SystemExit("saving the dashboard failed")
        core = self.ws_command("frontend/get_system_data", key="core")["value"] or {}
        self.ws_command(
            "frontend/set_system_data", key="core", value=core | {"default_panel": DASHBOARD}
        )

    def confirm_bridges(self, timeout: float) -> int:
        """Accept the iot_monitor flows that MQTT or zeroconf discovery started."""
        deadline = time.monotonic() + timeout
        while not self.entries("iot_monitor") and time.monotonic() < deadline:
            for flow in self.flows_in_progress():
                if flow.get("handler") == "iot_monitor":
                    self.call("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {})
            time.sleep(1)
        return len(self.entries("iot_monitor"))


def dashboard(bridge: dict[str, Any], fan: str | None) -> dict[str, Any]:
    """The demo dashboard: the fleet, the vending machine, the thresholds and the fan."""
    thresholds = [threshold["entity_id"] for threshold in bridge["thresholds"]]
    return {
        "views": [
            {
                "title": "iot-monitor",
                "path": "iot-monitor",
                "icon": "mdi:raspberry-pi",
                "type": "sections",
                "max_columns": 3,
                "sections": [
                    {
                        "type": "grid",
                        "column_span": 2,
                        "cards": [
                            {
                                "type": "custom:iot-monitor-fleet-card",
                                "bridge": bridge["id"],
                                "grid_options": {"columns": "full"},
                            }
                        ],
                    },
                    {
                        "type": "grid",
                        "cards": [
                            {
                                "type": "custom:iot-monitor-vending-card",
                                "bridge": bridge["id"],
                                "machine": bridge["machines"][0]["id"],
                                "grid_options": {"columns": "full"},
                            },
                            {
                                "type": "entities",
                                "title": "Thresholds and outputs",
                                "entities": [*thresholds, *([fan] if fan else [])],
                                "grid_options": {"columns": "full"},
                            },
                        ],
                    },
                ],
            }
        ],
    }


def onboard(url: str, broker_port: int, timeout: float) -> None:
    api = Api(url)
    api.wait_ready(timeout)
    api.log_in()
    api.set_up_mqtt(broker_port)
    bridges = api.confirm_bridges(timeout=60)
    bridge = api.layout(timeout=120)
    api.add_threshold(bridge)
    api.save_dashboard(api.layout(timeout=30))  # again, with the threshold's entity
    print(f"Home Assistant ready at {url}: log in as {USERNAME} / {PASSWORD}; bridges: {bridges}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare")
    prep.add_argument("config_dir", type=Path)
    prep.add_argument("--port", type=int, default=8123)
    onb = commands.add_parser("onboard")
    onb.add_argument("--url", default="http://127.0.0.1:8123")
    onb.add_argument("--broker-port", type=int, required=True)
    onb.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.config_dir, args.port)
    else:
        onboard(args.url, args.broker_port, args.timeout)


if __name__ == "__main__":
    main()
