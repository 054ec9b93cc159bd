"""Private network namespaces for tests that need real multicast (mDNS) without a LAN.

A namespace holds only a loopback interface with multicast enabled and a route for
224.0.0.0/4, so zeroconf on 127.0.0.1 sends and receives real mDNS packets that never
leave the namespace. ``link`` joins two namespaces with a virtual Ethernet cable, as two
hosts on one LAN: needed when two mDNS responders must answer each other, because on a
single host unicast replies to port 5353 reach only one of the sockets sharing it.
A namespace applies to a process: run the peers with ``NetworkNamespace.popen``
(``ip netns exec``). Creating one needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class NamespaceUnavailable(Exception):
    """This machine or user cannot create network namespaces; the message says why."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=10)


def _ip_steps(steps: Sequence[Sequence[str]]) -> None:
    """Run ``ip`` once per step; the first failure raises, naming the step and the error."""
    for step in steps:
        done = _ip(*step)
        if done.returncode != 0:
            raise NamespaceUnavailable(f"'ip {' '.join(step)}' failed: {done.stderr.strip()}")


@dataclass(frozen=True)
class NetworkNamespace:
    name: str

    @classmethod
    def create(cls, prefix: str = "iotm") -> NetworkNamespace:
        """A fresh namespace with loopback up and multicast routed to it."""
        if shutil.which("ip") is None:
            raise NamespaceUnavailable("the 'ip' command (iproute2) is not installed")
        if os.geteuid() != 0:
            raise NamespaceUnavailable("creating a network namespace needs root")
        namespace = cls(f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        _ip_steps([("netns", "add", namespace.name)])
        try:
            _ip_steps(
                [
                    ("-n", namespace.name, "link", "set", "lo", "up"),
                    ("-n", namespace.name, "link", "set", "lo", "multicast", "on"),
                    ("-n", namespace.name, "route", "add", "224.0.0.0/4", "dev", "lo"),
                ]
            )
        except BaseException:
            namespace.delete()
            raise
        return namespace

    def link(self, other: NetworkNamespace, subnet: str = "10.77.0") -> tuple[str, str]:
        """Connect to ``other`` with a veth pair on ``subnet``.0/24; returns both addresses."""
        ends = ((self, f"{subnet}.1"), (other, f"{subnet}.2"))
        veth = ["link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns"]
        steps: list[Sequence[str]] = [("-n", self.name, *veth, other.name)]
        for namespace, address in ends:
            steps.append(("-n", namespace.name, "addr", "add", f"{address}/24", "dev", "veth0"))
            steps.append(("-n", namespace.name, "link", "set", "veth0", "up"))
        _ip_steps(steps)
        return ends[0][1], ends[1][1]

    def delete(self) -> None:
        _ip("netns", "delete", self.name)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``argv`` in the namespace with line-buffered text pipes for stdin and stdout."""
        return subprocess.Popen(
            self.command(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, **(env or {})},
        )

    def python(self, module: str, *args: str) -> subprocess.Popen[str]:
        """Run ``python -m module args`` from this repository, with the current interpreter."""
        return self.popen(
            [sys.executable, "-u", "-m", module, *args],
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        )


@contextmanager
def namespace_or_skip(prefix: str = "iotm") -> Iterator[NetworkNamespace]:
    """A namespace for the duration of the block; skips the test, saying why, when impossible."""
    try:
        namespace = NetworkNamespace.create(prefix)
    except NamespaceUnavailable as err:
        pytest.skip(f"no network namespace for real mDNS: {err}")
    try:
        yield namespace
    finally:
        namespace.delete()
