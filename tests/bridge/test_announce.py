"""Zeroconf announcement: TXT building as pure functions, then real mDNS in a namespace."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from iot_monitor_bridge.runtime.announce import (
    SERVICE_TYPE,
    Announcer,
    build_txt,
    host_addresses,
    instance_name,
)
from tests.support.mdns import JsonLines
from tests.support.netns import NetworkNamespace, namespace_or_skip

TXT_KEYS = {"id", "name", "version", "topic_root", "discovery_prefix", "broker_host", "broker_port"}


def test_txt_carries_identity_and_broker() -> None:
    txt = build_txt(
        bridge_id="garage",
        name="Garage Pi",
        version="1.2.3",
        topic_root="iot_monitor",
        discovery_prefix="homeassistant",
        broker=("mqtt.lan", 8883),
    )
    assert txt == {
        "id": "garage",
        "name": "Garage Pi",
        "version": "1.2.3",
        "topic_root": "iot_monitor",
        "discovery_prefix": "homeassistant",
        "broker_host": "mqtt.lan",
        "broker_port": "8883",
    }


def test_txt_broker_fields_empty_when_not_connected() -> None:
    txt = build_txt(
        bridge_id="garage",
        name="Garage",
        version="1",
        topic_root="t",
        discovery_prefix="homeassistant",
        broker=None,
    )
    assert set(txt) == TXT_KEYS
    assert txt["broker_host"] == ""
    assert txt["broker_port"] == ""


def test_txt_entries_fit_one_dns_string() -> None:
    txt = build_txt(
        bridge_id="garage",
        name="é" * 300,  # two bytes each: the cut must not split a character
        version="1",
        topic_root="t",
        discovery_prefix="homeassistant",
        broker=None,
    )
    entry = f"name={txt['name']}".encode()
    assert len(entry) <= 255
    assert txt["name"] == "é" * 125


def test_instance_name_falls_back_to_id_and_stays_one_label() -> None:
    assert instance_name("Garage Pi", "garage") == "Garage Pi"
    assert instance_name("   ", "garage") == "garage"
    assert instance_name("", "garage") == "garage"
    assert instance_name("Pi v1.2\tlab", "pi") == "Pi v1-2-lab"
    long_name = instance_name("x" * 100, "pi")
    assert len(long_name.encode()) == 60


def test_host_addresses_skip_loopback_and_link_local_v6() -> None:
    def addr(family: socket.AddressFamily, address: str) -> SimpleNamespace:
        return SimpleNamespace(family=family, address=address)

    interfaces = {
        "lo": [addr(socket.AF_INET, "127.0.0.1"), addr(socket.AF_INET6, "::1")],
        "eth0": [
            addr(socket.AF_INET, "192.168.1.20"),
            addr(socket.AF_INET6, "fe80::1%eth0"),
            addr(socket.AF_INET6, "fd00::20"),
            addr(socket.AF_PACKET, "02:00:00:00:00:01"),
        ],
        "wlan0": [addr(socket.AF_INET, "192.168.1.20"), addr(socket.AF_INET, "169.254.3.4")],
    }
    assert host_addresses(interfaces) == ["192.168.1.20", "fd00::20", "169.254.3.4"]


@pytest.fixture
def namespace() -> Iterator[NetworkNamespace]:
    with namespace_or_skip() as created:
        yield created


@pytest.mark.netns
def test_announcement_seen_updated_and_withdrawn_over_real_mdns(
    namespace: NetworkNamespace,
) -> None:
    browser = JsonLines(namespace.python("tests.support.mdns", "browse", SERVICE_TYPE))
    announcer: JsonLines | None = None
    try:
        browser.wait_for(lambda event: event["event"] == "browsing")
        arguments = {
            "bridge_id": "garage",
            "name": "Garage Pi",
            "version": "1.2.3",
            "topic_root": "iot_monitor",
            "discovery_prefix": "homeassistant",
            "http_port": 8765,
            "broker": ["10.0.0.5", 1883],
        }
        announcer = JsonLines(
            namespace.python("tests.support.mdns", "announce", json.dumps(arguments))
        )
        started = announcer.wait_for(lambda event: event["event"] == "started")
        assert started["name"] == f"Garage Pi.{SERVICE_TYPE}"

        found = browser.wait_for(lambda event: event["event"] in ("added", "updated"))
        assert found["name"] == f"Garage Pi.{SERVICE_TYPE}"
        assert found["port"] == 8765
        assert found["addresses"] == ["127.0.0.1"]
        assert found["server"] == "iot-monitor-garage.local."
        assert found["txt"] == {
            "id": "garage",
            "name": "Garage Pi",
            "version": "1.2.3",
            "topic_root": "iot_monitor",
            "discovery_prefix": "homeassistant",
            "broker_host": "10.0.0.5",
            "broker_port": "1883",
        }

        announcer.send("update broker-b.lan 8883")
        announcer.wait_for(lambda event: event["event"] == "updated")
        failed_over = browser.wait_for(
            lambda event: event.get("txt", {}).get("broker_host") == "broker-b.lan"
        )
        assert failed_over["txt"]["broker_port"] == "8883"
        assert failed_over["txt"]["id"] == "garage"

        announcer.send("update -")
        announcer.wait_for(lambda event: event["event"] == "updated")
        disconnected = browser.wait_for(lambda event: event.get("txt", {}).get("broker_host") == "")
        assert disconnected["txt"]["broker_port"] == ""

        announcer.send("stop")
        announcer.wait_for(lambda event: event["event"] == "stopped")
        removed = browser.wait_for(lambda event: event["event"] == "removed")
        assert removed["name"] == f"Garage Pi.{SERVICE_TYPE}"
    finally:
        browser.close()
        if announcer is not None:
            announcer.close()


async def test_start_without_network_is_logged_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    announcer = Announcer(
        bridge_id="garage",
        name="Garage",
        version="1",
        topic_root="iot_monitor",
        discovery_prefix="homeassistant",
        http_port=8765,
        interfaces=["203.0.113.1"],  # documentation address: on no interface of this host
    )
    await announcer.start(None)
    assert announcer.service_name is None
    await announcer.update(("mqtt.lan", 1883))
    assert announcer.service_name is None
    await announcer.stop()
    failures = [r for r in caplog.records if "announcement failed" in r.getMessage()]
    assert len(failures) == 2  # the start, then the retry from update


@pytest.fixture
def second_namespace() -> Iterator[NetworkNamespace]:
    with namespace_or_skip() as created:
        yield created


@pytest.mark.netns
def test_second_bridge_with_the_same_name_is_renamed(
    namespace: NetworkNamespace, second_namespace: NetworkNamespace
) -> None:
    """Two hosts on one LAN, each with a bridge called "Pi": the later one gets "Pi-2"."""
    addresses = namespace.link(second_namespace)
    peers: list[JsonLines] = []
    try:
        for host, address in zip((namespace, second_namespace), addresses, strict=True):
            arguments = {
                "bridge_id": f"pi-{address.rsplit('.', 1)[1]}",
                "name": "Pi",
                "version": "1",
                "topic_root": "iot_monitor",
                "discovery_prefix": "homeassistant",
                "http_port": 8765,
                "interfaces": [address],
            }
            peers.append(
                JsonLines(host.python("tests.support.mdns", "announce", json.dumps(arguments)))
            )
            peers[-1].wait_for(lambda event: event["event"] == "started")
        assert [peer.seen[-1]["name"] for peer in peers] == [
            f"Pi.{SERVICE_TYPE}",
            f"Pi-2.{SERVICE_TYPE}",
        ]
    finally:
        for peer in peers:
            peer.close()
