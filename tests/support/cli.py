"""The bridge's command line as a real process, for tests of exit codes and what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(command: str, config: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m iot_monitor_bridge COMMAND --config CONFIG``; text output, no check."""
    return subprocess.run(
        [sys.executable, "-m", "iot_monitor_bridge", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
