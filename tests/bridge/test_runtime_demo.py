"""scripts/demo: the fleet shows up in the live view, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port
from tests.support.processes import AS_FROM_A_TERMINAL, kill_session, session_members

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo"


@pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/demo is a bash script")
def test_demo_shows_the_fleet_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = dict(os.environ)
    env |= {
        "IOT_MONITOR_DEMO_DIR": str(tmp_path / "demo"),
        "IOT_MONITOR_DEMO_PORT": str(free_port()),
        "IOT_MONITOR_DEMO_SECONDS": "60",  # a safety net: the test stops it long before
        "IOT_MONITOR_DEMO_HA": "0",  # Home Assistant in the demo is tested with the integration
    }
    demo = subprocess.Popen(
        [*AS_FROM_A_TERMINAL, str(DEMO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # a session of its own, as a terminal would give it
    )
    output: list[str] = []
    fleet_seen = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            output.append(line)
            if line.lstrip().startswith("fleet_8") and "temperature=" in line:
                fleet_seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert fleet_seen.wait(30), "".join(output)
        demo.send_signal(signal.SIGINT)  # Ctrl-C reaches the script's own process group
        assert demo.wait(30) == 0, "".join(output)
    finally:
        left = session_members(demo.pid)
        kill_session(demo.pid)  # after a failure: no part outlives the test
        demo.wait()
    reader.join(5)
    text = "".join(output)
    assert "bridge demo-pi (Demo Pi): online" in text
    assert left == []  # broker, bridge, customer and live view are all gone
    bridge_log = (tmp_path / "demo" / "bridge.log").read_text()
    assert "Availability offline acknowledged" in bridge_log  # the broker outlived the bridge
    assert "Traceback" not in bridge_log
