"""The state machine engine's cost: the bridge's table engine against python-statemachine.

python-statemachine 3.x is the maintained library for the job; the bridge uses its own table
(``iot_monitor_bridge.machines.engine``). This measures both on the same machine, the
vending machine of ``bridge/examples/vending.yaml``, each in a fresh interpreter that has
first imported what the running bridge already has (asyncio, sqlite3, json, logging, paho,
the validated configuration), so only what the engine adds is counted:

- RSS growth (``VmRSS``) from importing the engine, building the machine from the file's
  table and firing the events;
- import time, build time, and the time per event of a purchase cycle (select, pay,
  dispensed, and a coin) repeated.

    .venv-bridge311/bin/python bench/machine_engines.py            # the bridge's engine only
    <python with python-statemachine> bench/machine_engines.py     # both

python-statemachine is not a dependency: install it into a scratch virtual environment
with the bridge (``pip install python-statemachine==3.2.2 -r requirements/bridge.txt`` and
``PYTHONPATH=bridge/src``) to measure it. docs/machines.md has the figures.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "bridge" / "examples" / "vending.yaml"
RUNS = 5
CYCLES = 2000

_COMMON = """
import sys, time
def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
import asyncio, sqlite3, json, logging, inspect, dataclasses, pathlib  # the bridge has these
import paho.mqtt.client
from pathlib import Path
from iot_monitor_bridge.config import load_config
config = load_config(Path(sys.argv[1])).machines[0]
SENSORS = {("fridge", "temperature"): 5.0}
before = rss_kb()
t0 = time.perf_counter()
"""

_TABLE = (
    _COMMON
    + """
from iot_monitor_bridge.machines.vending import VendingMachine
t1 = time.perf_counter()
vm, _ = VendingMachine.restore(config, None, now=0.0, sensors=SENSORS)
t2 = time.perf_counter()
for i in range(int(sys.argv[2])):
    for _ in range(10):
        vm.fire("coin", None, now=i, sensors=SENSORS)
    vm.fire("select", {"slot": "b"}, now=i, sensors=SENSORS)
    vm.fire("pay", None, now=i, sensors=SENSORS)
    vm.start_dispense(vm.s.order.id, now=i)
    vm.fire("dispensed", None, now=i, sensors=SENSORS)
    vm.fire("restock", {"slot": "b", "count": 1}, now=i, sensors=SENSORS)
t3 = time.perf_counter()
assert vm.s.sales == 3000 * int(sys.argv[2]), vm.s
"""
)

_LIBRARY = (
    _COMMON
    + """
from statemachine import StateMachine
from statemachine.io import create_machine_class_from_definition
from iot_monitor_bridge.machines.expr import Guard
t1 = time.perf_counter()
def cond(text):
    guard = Guard(text)
    return lambda *args, **kwargs: guard(SENSORS, VARIABLES)
VARIABLES = {"credit": 0, "price": 3000, "stock": 5, "stock_total": 10, "out_of_service": False}
states = {name: {"initial": name == config.initial, "on": {}} for name in config.states}
for t in config.transitions:
    if t.event is None:
        continue
    sources = list(config.states) if t.sources == "*" else t.from_states
    for source in sources:
        item = {"target": t.to or source, "internal": t.to is None}
        if t.guard is not None:
            item["cond"] = cond(t.guard)
        states[source]["on"].setdefault(t.event, []).append(item)
Vending = create_machine_class_from_definition(  # StateMachine's strictness, on a StateChart
    "Vending",
    states=states,
    allow_event_without_transition=False,
    validate_disconnected_states=False,  # needs_attention is entered only by a restart
)
vm = Vending()
t2 = time.perf_counter()
for i in range(int(sys.argv[2])):
    for _ in range(10):
        vm.send("coin")
        VARIABLES["credit"] += 500
    vm.send("select", slot="b")
    vm.send("pay")
    VARIABLES["credit"] -= 3000
    vm.send("dispensed")
    vm.send("restock", slot="b", count=1)
t3 = time.perf_counter()
"""
)

_REPORT = """
after = rss_kb()
events = 14 * int(sys.argv[2])
print(json.dumps({"rss_mb": (after - before) / 1024, "import_ms": (t1 - t0) * 1000,
                  "build_ms": (t2 - t1) * 1000, "event_us": (t3 - t2) / events * 1e6}))
"""


def _run(code: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", code + _REPORT, str(EXAMPLE), str(CYCLES)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return figures


def _has_library() -> bool:
    found = subprocess.run(
        [sys.executable, "-c", "import statemachine"], capture_output=True, check=False
    )
    return found.returncode == 0


def main() -> None:
    print(f"python {sys.version.split()[0]}: median of {RUNS} fresh interpreters, {CYCLES} cycles")
    engines = {"table (iot_monitor_bridge.machines)": _TABLE}
    if _has_library():
        engines["python-statemachine"] = _LIBRARY
    else:
        print("python-statemachine is not installed here: only the table engine is measured")
    print(f"{'engine':38} {'RSS MB':>7} {'import ms':>10} {'build ms':>9} {'us/event':>9}")
    for name, code in engines.items():
        runs = [_run(code) for _ in range(RUNS)]
        med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{name:38} {med['rss_mb']:7.2f} {med['import_ms']:10.1f} {med['build_ms']:9.2f} "
            f"{med['event_us']:9.1f}"
        )


if __name__ == "__main__":
    main()
