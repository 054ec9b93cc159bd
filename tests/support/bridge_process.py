"""The bridge as a real process (``python -m iot_monitor_bridge run``) for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from iot_monitor_bridge.config import SpoolConfig
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.mosquitto import Mosquitto, free_port

STOP_TIMEOUT_S = 15.0
"""How long the bridge may take to exit after SIGTERM (its own shutdown is bounded to a few s)."""


class BridgeProcess:
    """One bridge process with its own configuration file, state directory, log and
    ``/health`` port on 127.0.0.1."""

    def __init__(
        self,
        workdir: Path,
        brokers: Sequence[Mosquitto],
        devices: list[dict[str, Any]],
        **sections: Any,
    ) -> None:
        """``sections`` are configuration sections; ``mqtt`` adds to the broker list."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.brokers = list(brokers)
        self.state_dir = workdir / "state"
        self.config_path = workdir / "bridge.yaml"
        self.log_path = workdir / "bridge.log"
        self.http_port = free_port()
        self.env = dict(os.environ)
        """The process's environment, for a test to change before ``start``."""
        self.process: subprocess.Popen[bytes] | None = None
        self._sections = sections
        self.configure(devices)

    def configure(self, devices: list[dict[str, Any]], **sections: Any) -> None:
        """Write the configuration file: these devices, the constructor's sections and these."""
        sections = self._sections | sections
        mqtt = {"brokers": [{"host": b.host, "port": b.port} for b in self.brokers]}
        config: dict[str, Any] = {
            "mqtt": mqtt | sections.pop("mqtt", {}),
            "http": {"port": self.http_port, "bind": "127.0.0.1"},
            "zeroconf": {"enabled": False},
            "state_dir": str(self.state_dir),
            "devices": devices,
            **sections,
        }
        self.config_path.write_text(yaml.safe_dump(config))
        self.config_path.chmod(0o600)  # it may hold the MQTT password

    def start(self) -> BridgeProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "iot_monitor_bridge",
                    "run",
                    "--config",
                    str(self.config_path),
                ],
                stdout=log,
                stderr=log,
                env=self.env,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> int | None:
        """Send ``sig``; the exit code, or ``None`` if still running after ``STOP_TIMEOUT_S``
        (then it is killed)."""
        assert self.process is not None, "the bridge was not started"
        self.process.send_signal(sig)
        try:
            code: int | None = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        return code

    def stop(self) -> None:
        """SIGTERM, as systemd stops it: the bridge must exit 0 within ``STOP_TIMEOUT_S``."""
        code = self.signal(signal.SIGTERM)
        assert code == 0, f"exit code {code} after SIGTERM:\n{self.log}"

    def kill(self) -> None:
        """SIGKILL if still running: a power cut, or clean-up after a failed test."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        """A test's clean-up: kill it if still running; it must never have logged a traceback."""
        self.kill()
        assert "Traceback" not in self.log, self.log

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict[str, Any]:
        """``/health``'s document, also when it says 503 (degraded: no broker)."""
        url = f"http://127.0.0.1:{self.http_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                document: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as err:
            if err.code != 503:
                raise
            document = json.load(err)
        return document

    def wait_health(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll ``/health`` (another process: there is nothing to wait on but its answers)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | str = "no answer"
        while time.monotonic() < deadline:
            assert self.running, self.log
            try:
                last = self.health()
            except OSError as err:  # not listening yet
                last = repr(err)
            else:
                if predicate(last):
                    return last
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last /health: {last}")

    def spool_readings(self) -> list[Reading]:
        """The readings left in the spool file, lowest seq first (the bridge must not be
        running): what it has not sent yet, or sent without a PUBACK."""
        assert not self.running
        spool = Spool(self.state_dir / "spool.db", SpoolConfig())
        try:
            return spool.pending(10**7)
        finally:
            spool.close()

    def spool_seqs(self) -> set[int]:
        """The seqs left in the spool file (the bridge must not be running)."""
        return {reading.seq for reading in self.spool_readings()}
