"""mDNS peers to run inside a network namespace, and the reader the test uses to follow them.

``python -m tests.support.mdns browse SERVICE_TYPE`` prints one JSON line per change seen
by a python-zeroconf browser on 127.0.0.1 (``added``/``updated`` with the resolved TXT,
port and addresses, ``removed``); ``text`` is the TXT record as received, in base64, so a
reader can rebuild the service info exactly.

``python -m tests.support.mdns announce JSON`` registers the bridge's ``Announcer`` with the
keyword arguments in JSON (``interfaces`` defaults to 127.0.0.1, ``broker`` to none), then
obeys stdin: ``update HOST PORT``, ``update -`` (no broker) and ``stop``; it prints a JSON
line after each step completes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

LOOPBACK = ["127.0.0.1"]


def _emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


async def browse(service_type: str) -> None:
    """Report every change of ``service_type`` until killed."""
    zc = AsyncZeroconf(interfaces=LOOPBACK)
    pending: set[asyncio.Task[None]] = set()

    async def resolve(event: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zc.zeroconf, 3000):
            _emit({"event": "unresolved", "name": name, "after": event})
            return
        _emit(
            {
                "event": event,
                "name": name,
                "port": info.port,
                "server": info.server,
                "addresses": info.parsed_addresses(),
                "txt": info.decoded_properties,
                "text": base64.b64encode(info.text).decode(),
            }
        )

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            _emit({"event": "removed", "name": name})
            return
        task = asyncio.ensure_future(resolve(state_change.name.lower(), name))
        pending.add(task)
        task.add_done_callback(pending.discard)

    browser = AsyncServiceBrowser(zc.zeroconf, service_type, handlers=[on_change])
    _emit({"event": "browsing"})
    try:
        await asyncio.Event().wait()
    finally:
        await browser.async_cancel()
        await zc.async_close()


async def announce(arguments: dict[str, Any]) -> None:
    """Drive an ``Announcer`` from stdin commands."""
    from iot_monitor_bridge.runtime.announce import Announcer

    broker = arguments.pop("broker", None)
    arguments.setdefault("interfaces", LOOPBACK)
    announcer = Announcer(**arguments)
    await announcer.start(tuple(broker) if broker else None)
    _emit({"event": "started", "name": announcer.service_name})
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "stop":
            await announcer.stop()
            _emit({"event": "stopped"})
            return
        if line[0] == "update":
            await announcer.update(None if line[1] == "-" else (line[1], int(line[2])))
            _emit({"event": "updated"})


class JsonLines:
    """Follows a peer's stdout in a thread so the test can wait for a given line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[dict[str, Any]] = []
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first line (from now on) that matches; fails with everything seen on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._lines.get(timeout=max(remaining, 0))
            except queue.Empty:
                raise AssertionError(f"no matching line in {timeout}s; saw {self.seen}") from None
            if event is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"peer exited; saw {self.seen}; stderr: {stderr}")
            self.seen.append(event)
            if predicate(event):
                return event

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        """Kill the peer if it is still running, reap it and its reader thread."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def main(argv: list[str]) -> None:
    if argv[0] == "browse":
        asyncio.run(browse(argv[1]))
    elif argv[0] == "announce":
        asyncio.run(announce(json.loads(argv[1])))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
