"""The ledger in SQLite: a commit per step with fsync, the state restored after kill -9."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from iot_monitor_bridge.config import load_config
from iot_monitor_bridge.machines.engine import RunService
from iot_monitor_bridge.machines.vending import Entry, Step, VendingMachine, VendingState, replay
from iot_monitor_bridge.runtime.ledger import Ledger, LedgerError

EXAMPLE_PATH = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
CONFIG = load_config(EXAMPLE_PATH).machines[0]
COOL = {("fridge", "temperature"): 5.0}


def _apply(ledger: Ledger, step: Step) -> Step:
    assert step.ok, step.result
    ledger.commit(CONFIG.id, step.entries, step.state)
    return step


def _open(path: Path) -> tuple[Ledger, VendingMachine, Step]:
    ledger = Ledger(path)
    saved = ledger.load(CONFIG.id, VendingState)
    machine, step = VendingMachine.restore(CONFIG, saved, now=2_000.0, sensors=COOL)
    ledger.commit(CONFIG.id, step.entries, step.state)
    return ledger, machine, step


def test_reopened_without_closing_the_state_credit_and_order_are_back(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger, vm, _ = _open(path)
    for _ in range(12):
        _apply(ledger, vm.fire("coin", None, now=2_001.0, sensors=COOL))
    _apply(ledger, vm.fire("select", {"slot": "a"}, now=2_002.0, sensors=COOL))
    _apply(ledger, vm.fire("pay", None, now=2_003.0, sensors=COOL))
    # kill -9: the first connection is never closed; a new one opens the same file
    again, restored, step = _open(path)
    assert restored.state == "dispensing"
    assert restored.s.credit == 1000
    assert restored.s.order is not None
    assert (restored.s.order.slot, restored.s.order.price, restored.s.order.status) == (
        "a",
        5000,
        "paid",
    )
    assert restored.s.stock["a"] == 9
    assert any(isinstance(a, RunService) for a in step.actions)  # not marked: dispensed now
    entries = again.entries(CONFIG.id)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert replay(entries)["inserted"] == restored.s.inserted == 6000
    ledger.close()
    again.close()


def test_every_commit_is_durable_wal_with_synchronous_full(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    db = ledger._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert not db.in_transaction
    ledger.close()


def test_a_step_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    state = VendingState(state="idle", seq=2)
    ledger.commit("m", [Entry(1, 0, "credit", amount=5), Entry(2, 0, "transition")], state)
    later = VendingState(state="out_of_service", seq=3)
    with pytest.raises(LedgerError, match="entry seq 2 after 2 is out of order"):
        ledger.commit("m", [Entry(2, 0, "credit", amount=5)], later)
    with pytest.raises(sqlite3.IntegrityError):
        ledger.commit("m", [Entry(3, 0, "credit"), Entry(3, 0, "credit")], later)
    assert ledger.load("m", VendingState) == state  # neither failed step left anything
    assert [e.seq for e in ledger.entries("m")] == [1, 2]
    assert ledger.entries("m", after=1) == [Entry(2, 0, "transition")]
    assert ledger.load("other", VendingState) is None
    ledger.close()


def test_a_ledger_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(LedgerError, match="ledger schema 7, expected 1"):
        Ledger(path)


_KILLED = """
import os, signal, sys
from pathlib import Path
from iot_monitor_bridge.config import load_config
from iot_monitor_bridge.machines.vending import VendingMachine, VendingState
from iot_monitor_bridge.runtime.ledger import Ledger

config = load_config(Path(sys.argv[1])).machines[0]
ledger = Ledger(Path(sys.argv[2]))
stop_after = int(sys.argv[3])
sensors = {("fridge", "temperature"): 5.0}
vm, step = VendingMachine.restore(config, None, now=100.0, sensors=sensors)
ledger.commit(config.id, step.entries, step.state)
steps = [
    lambda: vm.fire("coin", None, now=101.0, sensors=sensors),
    lambda: vm.fire("credit", {"amount": 3000}, now=102.0, sensors=sensors),
    lambda: vm.fire("select", {"slot": "c"}, now=103.0, sensors=sensors),
    lambda: vm.fire("credit", {"amount": 5000}, now=104.0, sensors=sensors),
    lambda: vm.fire("pay", None, now=105.0, sensors=sensors),
    lambda: vm.start_dispense(vm.s.order.id, now=106.0),
    lambda: vm.fire("dispensed", None, now=108.0, sensors=sensors),
]
for step in steps[:stop_after]:
    result = step()
    assert result.ok, result.result
    ledger.commit(config.id, result.entries, result.state)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit, no flush: kill -9
"""

_AFTER = {
    # steps committed: (state after restart, credit, order status or None, sales)
    0: ("idle", 0, None, 0),
    1: ("idle", 500, None, 0),
    2: ("idle", 3500, None, 0),
    3: ("awaiting_payment", 3500, None, 0),
    4: ("awaiting_payment", 8500, None, 0),
    5: ("dispensing", 500, "paid", 0),  # paid, never marked: dispensed after the restart
    6: ("needs_attention", 500, "dispensing", 0),  # marked: maybe released; a person settles
    7: ("idle", 0, None, 8000),
}


@pytest.mark.parametrize("stop_after", sorted(_AFTER))
def test_kill_9_in_every_state_of_a_purchase(tmp_path: Path, stop_after: int) -> None:
    path = tmp_path / "ledger.db"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(EXAMPLE_PATH), str(path), str(stop_after)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    ledger, vm, step = _open(path)
    state, credit, status, sales = _AFTER[stop_after]
    assert vm.state == state
    assert vm.s.credit == credit
    assert (vm.s.order.status if vm.s.order else None) == status
    assert vm.s.sales == sales
    assert vm.s.balanced
    dispensing = [a for a in step.actions if isinstance(a, RunService)]
    assert bool(dispensing) == (stop_after == 5)  # only an unmarked order is dispensed
    totals = replay(ledger.entries(CONFIG.id))
    assert totals == {
        "inserted": vm.s.inserted,
        "sales": vm.s.sales,
        "change": vm.s.change,
        "refunds": vm.s.refunds,
    }
    ledger.close()
