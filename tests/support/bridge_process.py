"""The bridge as a real process (``python -m iot_monitor_bridge run``) for end-to-end tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.mosquitto import Mosquitto


class BridgeProcess:
    """One bridge process with its own configuration file, state directory and log."""

    def __init__(self, workdir: Path, broker: Mosquitto, **config: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "bridge.yaml"
        self.log_path = workdir / "bridge.log"
        self.process: subprocess.Popen[bytes] | None = None
        settings: dict[str, Any] = {
            "mqtt": {"brokers": [{"host": broker.host, "port": broker.port}]},
            "http": {"enabled": False},
            "zeroconf": {"enabled": False},
            "state_dir": str(workdir / "state"),
        }
        self.config_path.write_text(yaml.safe_dump(settings | config))

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
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM and wait: the bridge says ``offline`` and exits 0. ``None`` if not started."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        code = self.process.returncode
        self.process = None
        return code

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
