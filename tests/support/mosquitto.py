"""Real Mosquitto brokers for tests: private processes on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on ``port`` (process start-up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port}") from None
            time.sleep(0.02)


@dataclass
class Mosquitto:
    """One broker. ``stop``/``kill`` and ``start`` again keep the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    host: str = "127.0.0.1"
    persistence: bool = False
    """Keep sessions and queued messages across ``stop``/``start`` (saved on a clean stop)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / f"mosquitto-{self.port}.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"mosquitto-{self.port}.log"

    def start(self) -> Mosquitto:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError("mosquitto is not installed: run scripts/setup")
        self.workdir.mkdir(parents=True, exist_ok=True)
        listener = self.extra_config if "listener" in self.extra_config else ""
        if not listener:
            listener = f"listener {self.port} {self.host}\nallow_anonymous true\n"
            listener += self.extra_config
        persistence = "persistence false\n"
        if self.persistence:
            persistence = (
                f"persistence true\npersistence_location {self.workdir}/\n"
                f"persistence_file mosquitto-{self.port}.db\n"
            )
        # Started as root, Mosquitto switches to the ``mosquitto`` user and then cannot use
        # the test's private directory (log, persistence, password files, certificates).
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config_path.write_text(
            f"{listener}\n{persistence}{user}max_queued_messages 1000000\n"
            f"log_dest file {self.log_path}\nlog_type error\nlog_type warning\n"
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, host=self.host)
        return self

    def stop(self) -> None:
        """Clean stop (SIGTERM): clients see a disconnect."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crashed broker."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
