"""Zeroconf discovery end to end: the bridge's own announcement over real mDNS, into the flow.

The bridge's ``Announcer`` registers the service inside a network namespace and a
python-zeroconf browser there resolves it. The record it received is rebuilt as a zeroconf
``AsyncServiceInfo`` in this process and turned into a ``ZeroconfServiceInfo`` by Home
Assistant's own ``info_from_service``, so the config flow gets exactly what Home Assistant's
zeroconf integration would hand it. Home Assistant itself runs outside the namespace.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from ipaddress import ip_address
from typing import Any

import pytest
from homeassistant.components.zeroconf.discovery import info_from_service
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers.discovery_flow import DiscoveryKey
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.loader import async_get_zeroconf
from zeroconf.asyncio import AsyncServiceInfo

from custom_components.iot_monitor.const import CONF_BRIDGE_ID, CONF_HOST, CONF_TOPIC_ROOT, DOMAIN
from iot_monitor_bridge.runtime.announce import SERVICE_TYPE
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge
from tests.support.mdns import JsonLines
from tests.support.netns import NetworkNamespace, namespace_or_skip

pytestmark = pytest.mark.netns

BRIDGE = FleetBridge(topic_root="site/lab")
"""Outside the default topic root, which MQTT discovery watches: only zeroconf finds it."""
SERVICE_NAME = f"{BRIDGE.name}.{SERVICE_TYPE}"
MOVED_ADDRESS = "127.0.0.2"
"""Where the bridge comes back after a restart: a second address on the namespace's loopback."""
MDNS_TIMEOUT_S = 15.0

Event = dict[str, Any]


class Network:
    """A namespace with an mDNS browser in it, where bridges can be started and stopped."""

    def __init__(self, namespace: NetworkNamespace) -> None:
        self.namespace = namespace
        self.browser = JsonLines(namespace.python("tests.support.mdns", "browse", SERVICE_TYPE))
        self.announcers: list[JsonLines] = []
        self.browser.wait_for(lambda event: event["event"] == "browsing")

    def start_bridge(self, broker: tuple[str, int], interface: str) -> JsonLines:
        """The bridge's ``Announcer`` for ``BRIDGE`` on ``interface``, using ``broker``."""
        arguments = {
            "bridge_id": BRIDGE.bridge_id,
            "name": BRIDGE.name,
            "version": BRIDGE.version,
            "topic_root": BRIDGE.topic_root,
            "discovery_prefix": BRIDGE.discovery_prefix,
            "http_port": 8765,
            "broker": list(broker),
            "interfaces": [interface],
        }
        announcer = JsonLines(
            self.namespace.python("tests.support.mdns", "announce", json.dumps(arguments))
        )
        self.announcers.append(announcer)
        announcer.wait_for(lambda event: event["event"] == "started")
        return announcer

    def add_address(self, address: str) -> None:
        """Give the namespace's loopback another address, as a host that gets a new lease."""
        argv = self.namespace.command(["ip", "addr", "add", f"{address}/8", "dev", "lo"])
        subprocess.run(argv, check=True, capture_output=True, timeout=10)

    def close(self) -> None:
        for peer in (*self.announcers, self.browser):
            peer.close()


@pytest.fixture
def network() -> Iterator[Network]:
    with namespace_or_skip() as namespace:
        created = Network(namespace)
        try:
            yield created
        finally:
            created.close()


async def async_seen(
    hass: HomeAssistant, peer: JsonLines, predicate: Callable[[Event], bool]
) -> Event:
    """Wait, off the event loop, for a line of ``peer`` matching ``predicate``."""
    return await hass.async_add_executor_job(peer.wait_for, predicate, MDNS_TIMEOUT_S)


def resolved_with(**txt: str) -> Callable[[Event], bool]:
    """A browser event resolving our bridge with these TXT values."""

    def matches(event: Event) -> bool:
        if event["event"] not in ("added", "updated") or event["name"] != SERVICE_NAME:
            return False
        return all(event["txt"].get(key) == value for key, value in txt.items())

    return matches


def as_home_assistant_sees_it(event: Event) -> ZeroconfServiceInfo:
    """The service info Home Assistant's zeroconf integration makes from what was received."""
    service = AsyncServiceInfo(
        SERVICE_TYPE,
        event["name"],
        port=event["port"],
        server=event["server"],
        parsed_addresses=event["addresses"],
        properties=base64.b64decode(event["text"]),
    )
    info = info_from_service(service)
    assert info is not None, f"Home Assistant would drop this announcement: {event}"
    return info


async def async_discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> FlowResult[Any, Any]:
    """Start the flow as Home Assistant's zeroconf discovery does, with its discovery key."""
    return await hass.config_entries.flow.async_init(
        DOMAIN,
        context={
            "source": SOURCE_ZEROCONF,
            "discovery_key": DiscoveryKey(domain="zeroconf", key=(info.type, info.name), version=1),
        },
        data=info,
    )


@pytest.mark.usefixtures("mqtt_mock")
async def test_announced_bridge_is_offered_added_and_followed_when_it_moves(
    hass: HomeAssistant, broker: RetainedBroker, network: Network
) -> None:
    # Home Assistant routes the bridge's service type to this integration (its manifest).
    assert {"domain": DOMAIN} in (await async_get_zeroconf(hass))[SERVICE_TYPE]
    broker.publish_description(BRIDGE)

    announcer = await hass.async_add_executor_job(
        network.start_bridge, ("10.0.0.5", 1883), "127.0.0.1"
    )
    first = as_home_assistant_sees_it(
        await async_seen(hass, network.browser, resolved_with(broker_host="10.0.0.5"))
    )
    assert first.ip_addresses == [ip_address("127.0.0.1")]
    assert first.hostname == f"iot-monitor-{BRIDGE.bridge_id}.local."
    assert first.properties["id"] == BRIDGE.bridge_id

    result = await async_discover(hass, first)
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {
        "name": BRIDGE.name,
        "bridge_id": BRIDGE.bridge_id,
        "devices": str(BRIDGE.count),
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == BRIDGE.bridge_id
    assert entry.title == BRIDGE.name
    assert entry.data == {
        CONF_BRIDGE_ID: BRIDGE.bridge_id,
        CONF_TOPIC_ROOT: BRIDGE.topic_root,
        CONF_HOST: "127.0.0.1",
    }
    await hass.async_block_till_done()

    # The bridge fails over to another broker: the same bridge, announced again.
    announcer.send("update 10.0.0.6 1883")
    failed_over = as_home_assistant_sees_it(
        await async_seen(hass, network.browser, resolved_with(broker_host="10.0.0.6"))
    )
    result = await async_discover(hass, failed_over)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert hass.config_entries.async_entries(DOMAIN) == [entry]
    assert entry.data[CONF_HOST] == "127.0.0.1"

    # The bridge restarts on another address: the entry follows it.
    announcer.send("stop")
    await async_seen(hass, network.browser, lambda event: event["event"] == "removed")
    await hass.async_add_executor_job(network.add_address, MOVED_ADDRESS)
    await hass.async_add_executor_job(network.start_bridge, ("10.0.0.7", 1883), MOVED_ADDRESS)
    moved = as_home_assistant_sees_it(
        await async_seen(hass, network.browser, resolved_with(broker_host="10.0.0.7"))
    )
    assert moved.ip_addresses == [ip_address(MOVED_ADDRESS)]  # nothing stale from before
    result = await async_discover(hass, moved)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert hass.config_entries.async_entries(DOMAIN) == [entry]
    assert entry.data == {
        CONF_BRIDGE_ID: BRIDGE.bridge_id,
        CONF_TOPIC_ROOT: BRIDGE.topic_root,
        CONF_HOST: MOVED_ADDRESS,
    }
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the new data
    assert entry.discovery_keys == {
        "zeroconf": (DiscoveryKey(domain="zeroconf", key=(SERVICE_TYPE, SERVICE_NAME), version=1),)
    }
