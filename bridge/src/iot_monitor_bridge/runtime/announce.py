"""Zeroconf (mDNS/DNS-SD) announcement of the bridge as ``_iot-monitor._tcp.local.``.

Home Assistant finds bridges through this announcement: the TXT record says which bridge
it is, where its topics live and which broker it currently uses; the SRV port is the
bridge's HTTP port (/health, /metrics).

Announcing is best effort: a network that is not up yet never stops the bridge. A failed
``start`` is logged and retried by the next ``update``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import psutil
from zeroconf import Error as ZeroconfError
from zeroconf import InterfaceChoice
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_iot-monitor._tcp.local."

InterfacesType: TypeAlias = Sequence[str | int | tuple[tuple[str, int, int], int]] | InterfaceChoice
"""What ``AsyncZeroconf(interfaces=...)`` accepts (zeroconf does not export its own alias)."""

_LOGGER = logging.getLogger(__name__)

_MAX_INSTANCE_BYTES = 60
"""DNS labels hold 63 bytes; keep room for the ``-N`` zeroconf appends on a name clash."""
_MAX_TXT_ENTRY_BYTES = 255
"""Each ``key=value`` string of a TXT record is one length-prefixed string (RFC 6763 6.1)."""

_ANNOUNCE_ERRORS = (OSError, RuntimeError, ZeroconfError)
"""What a missing or changing network makes zeroconf raise."""


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def instance_name(name: str, bridge_id: str) -> str:
    """The DNS-SD instance name: the bridge's name, or its id when the name is blank.

    Dots would split the name into several DNS labels and control characters are not
    allowed (RFC 6763 4.1.1), so both become ``-``.
    """
    text = "".join("-" if ch == "." or ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in name)
    text = _truncate_utf8(text.strip(), _MAX_INSTANCE_BYTES).strip()
    return text or bridge_id


def build_txt(
    *,
    bridge_id: str,
    name: str,
    version: str,
    topic_root: str,
    discovery_prefix: str,
    broker: tuple[str, int] | None,
) -> dict[str, str]:
    """The TXT record; ``broker_host`` and ``broker_port`` are empty while not connected."""
    host, port = ("", "") if broker is None else (broker[0], str(broker[1]))
    txt = {
        "id": bridge_id,
        "name": name,
        "version": version,
        "topic_root": topic_root,
        "discovery_prefix": discovery_prefix,
        "broker_host": host,
        "broker_port": port,
    }
    return {
        key: _truncate_utf8(value, _MAX_TXT_ENTRY_BYTES - len(key) - 1)
        for key, value in txt.items()
    }


def _usable(address: str) -> bool:
    """Addresses other hosts can reach: not loopback, no IPv6 link-local (it needs a scope)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not ip.is_loopback and not (ip.version == 6 and ip.is_link_local)


def host_addresses(interface_addresses: Mapping[str, Iterable[Any]]) -> list[str]:
    """IPv4 and IPv6 addresses of the host worth announcing, from ``psutil.net_if_addrs()``."""
    found: list[str] = []
    for entries in interface_addresses.values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6) and _usable(entry.address):
                address = entry.address.split("%", 1)[0]
                if address not in found:
                    found.append(address)
    return found


def announced_addresses(interfaces: InterfacesType | None) -> list[str]:
    """The addresses to put in A/AAAA records for the chosen interfaces.

    Without a choice, or with an ``InterfaceChoice``, the host's own addresses; with a
    list, the addresses it names (IPv6 interface indexes stand for that interface's).
    """
    all_addresses = psutil.net_if_addrs()
    if interfaces is None or isinstance(interfaces, InterfaceChoice):
        return host_addresses(all_addresses)
    chosen: list[str] = []
    for item in interfaces:
        if isinstance(item, str):
            chosen.append(item)
        elif isinstance(item, int):
            interface = socket.if_indextoname(item)
            chosen.extend(host_addresses({interface: all_addresses.get(interface, [])}))
        else:
            chosen.append(item[0][0])
    return chosen


class Announcer:
    """Registers, updates and withdraws the bridge's DNS-SD service."""

    def __init__(
        self,
        *,
        bridge_id: str,
        name: str,
        version: str,
        topic_root: str,
        discovery_prefix: str,
        http_port: int,
        interfaces: InterfacesType | None = None,
    ) -> None:
        self._bridge_id = bridge_id
        self._name = name
        self._version = version
        self._topic_root = topic_root
        self._discovery_prefix = discovery_prefix
        self._http_port = http_port
        self._interfaces = interfaces
        self._broker: tuple[str, int] | None = None
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._lock = asyncio.Lock()

    @property
    def service_name(self) -> str | None:
        """The registered full service name (zeroconf appends ``-2`` etc. on a clash)."""
        return None if self._info is None else self._info.name

    def _service_info(self, full_name: str) -> AsyncServiceInfo:
        txt = build_txt(
            bridge_id=self._bridge_id,
            name=self._name,
            version=self._version,
            topic_root=self._topic_root,
            discovery_prefix=self._discovery_prefix,
            broker=self._broker,
        )
        # A host name of our own: announcing the Pi's hostname would clash with avahi-daemon.
        # Bridge ids are lowercase letters, digits and '-', so they are valid in a host name.
        server = f"iot-monitor-{self._bridge_id}.local."
        return AsyncServiceInfo(
            SERVICE_TYPE,
            full_name,
            port=self._http_port,
            properties=txt,
            server=server,
            parsed_addresses=announced_addresses(self._interfaces),
        )

    async def start(self, broker: tuple[str, int] | None) -> None:
        """Register the service; a network problem is logged and retried by ``update``."""
        async with self._lock:
            self._broker = broker
            await self._register()

    async def _register(self) -> None:
        if self._info is not None:
            return
        zeroconf: AsyncZeroconf | None = None
        try:
            interfaces = self._interfaces if self._interfaces is not None else InterfaceChoice.All
            zeroconf = AsyncZeroconf(interfaces=interfaces)
            name = f"{instance_name(self._name, self._bridge_id)}.{SERVICE_TYPE}"
            info = self._service_info(name)
            await zeroconf.async_register_service(info, allow_name_change=True)
            self._zeroconf, self._info = zeroconf, info
            _LOGGER.info("Announced %s on port %d", info.name, self._http_port)
        except _ANNOUNCE_ERRORS as err:
            _LOGGER.warning("Zeroconf announcement failed, will retry: %s", err)
        finally:
            if zeroconf is not None and self._zeroconf is not zeroconf:  # failed or cancelled
                await zeroconf.async_close()

    async def update(self, broker: tuple[str, int] | None) -> None:
        """Re-announce with the broker now in use (and the host's current addresses)."""
        async with self._lock:
            self._broker = broker
            if self._zeroconf is None or self._info is None:
                await self._register()
                return
            info = self._service_info(self._info.name)
            if info.properties == self._info.properties and set(info.parsed_addresses()) == set(
                self._info.parsed_addresses()
            ):
                return
            try:
                await self._zeroconf.async_update_service(info)
            except _ANNOUNCE_ERRORS as err:
                _LOGGER.warning("Zeroconf update failed: %s", err)
                return
            self._info = info
            _LOGGER.debug("Zeroconf TXT updated: broker %s", broker)

    async def stop(self) -> None:
        """Withdraw the service (goodbye packets, sent before returning) and close."""
        async with self._lock:
            zeroconf, info = self._zeroconf, self._info
            self._zeroconf = self._info = None
            if zeroconf is None:
                return
            try:
                if info is not None:
                    goodbyes_sent = await zeroconf.async_unregister_service(info)
                    await goodbyes_sent
            finally:
                await zeroconf.async_close()
