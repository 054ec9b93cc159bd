"""The vending machine of bridge/examples/vending.yaml, as a test's bridge runs it.

Without the fridge's DS18B20 (a test machine has no 1-Wire bus), so without the
out-of-service condition; with a dispense pulse short enough for a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iot_monitor_bridge.config import load_yaml

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"


def vending_example(pulse: str = "200ms") -> dict[str, Any]:
    """``devices`` and ``machines`` of the example, for ``BridgeProcess(..., machines=...)``."""
    example: dict[str, Any] = load_yaml(EXAMPLE.read_text(encoding="utf-8"))
    fridge, vending = example["devices"]
    fridge.pop("sensors")  # no DS18B20 here: the machine is in service
    machine = example["machines"][0]
    for key in ("out_of_service", "back_in_service"):
        machine["vending"].pop(key)
    machine["services"][0]["do"][0]["for"] = pulse
    return {"devices": [fridge, vending], "machines": example["machines"]}
