"""Random event sequences with crashes between any two steps, through the SQLite ledger.

Hypothesis drives the vending machine of bridge/examples/vending.yaml the way the runtime
and its customers would: coins, credit, selections, payments, cancels, time passing, the
fridge warming up and cooling down, restocks, price changes, admin overrides, and the
runtime's part of a dispense in three separate steps (mark the order, drive the output,
report it). Between any two steps it may crash: the ledger is abandoned unclosed, as after
``kill -9``, reopened, and the machine restored from it. A "person" settles an order the
restart found in ``needs_attention`` by looking at the hardware.

After every step: no undeclared state, stock >= 0, money conserved (in the state and in the
ledger's entries), no order released twice, every paid order either in flight or ended by
exactly one sale or refund, and a sale only for an order that was released.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from iot_monitor_bridge.config import load_config
from iot_monitor_bridge.machines.engine import RunService
from iot_monitor_bridge.machines.vending import Dispense, Step, VendingMachine, VendingState, replay
from iot_monitor_bridge.runtime.ledger import Ledger

EXAMPLE_PATH = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
CONFIG = load_config(EXAMPLE_PATH).machines[0]
SLOTS = st.sampled_from(["a", "b", "c", "z"])


class VendingWithCrashes(RuleBasedStateMachine):
    """The machine, its ledger, and the hardware it drives."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="vending-"))
        self.now = 1_000.0
        self.sensors: dict[tuple[str, str], object] = {("fridge", "temperature"): 5.0}
        self.released: Counter[int] = Counter()  # products the hardware let out, by order
        self.orders: set[int] = set()
        self.abandoned: list[Ledger] = []
        self.dispense: Dispense | None = None  # what the runtime has been asked to dispense
        self.driven: tuple[int, bool] | None = None  # (order, output worked), not reported
        self.crashes = 0
        self._open()

    def _open(self) -> None:
        self.ledger = Ledger(self.dir / "ledger.db")
        saved = self.ledger.load(CONFIG.id, VendingState)
        self.vm, step = VendingMachine.restore(CONFIG, saved, now=self.now, sensors=self.sensors)
        self._commit(step)

    def _commit(self, step: Step | None) -> None:
        if step is None:
            return
        self.ledger.commit(CONFIG.id, step.entries, step.state)
        for action in step.actions:
            if isinstance(action, RunService):
                found = [a for a in action.actions if isinstance(a, Dispense)]
                self.dispense = found[0] if found else self.dispense

    def _fire(self, event: str, data: dict[str, object] | None = None) -> Step:
        before = self.vm.snapshot()
        step = self.vm.fire(event, data, now=self.now, sensors=self.sensors)
        if not step.ok:
            assert step.entries == ()
            after = self.vm.snapshot()
            after.too_warm = before.too_warm
            assert after == before, step.result  # a refusal changes nothing but what it saw
        self._commit(step)
        return step

    # --- customers, Home Assistant, the kiosk ----------------------------------------------

    @rule(pulses=st.integers(1, 12))
    def coins(self, pulses: int) -> None:
        for _ in range(pulses):
            assert self._fire("coin").ok  # a coin is never refused

    @rule(amount=st.integers(-5, 10_000))
    def credit(self, amount: int) -> None:
        self._fire("credit", {"amount": amount})

    @rule(slot=SLOTS)
    def select(self, slot: str) -> None:
        self._fire("select", {"slot": slot})

    @rule()
    def pay(self) -> None:
        step = self._fire("pay")
        if step.ok:
            assert self.vm.s.order is not None
            assert self.vm.s.order.id not in self.orders
            self.orders.add(self.vm.s.order.id)

    @rule(slot=SLOTS)
    def customer_buys(self, slot: str) -> None:
        """Coins until the credit covers the price, then select and pay (each step stored)."""
        price = self.vm.s.prices.get(slot, 500)
        while self.vm.s.credit < price and self._fire("coin").ok and self.vm.s.credit:
            pass
        if self._fire("select", {"slot": slot}).ok:
            self.pay()

    @rule()
    def cancel(self) -> None:
        self._fire("cancel")

    @rule(seconds=st.sampled_from([1.0, 30.0, 59.0, 61.0, 600.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self._commit(self.vm.tick(now=self.now, sensors=self.sensors))

    @rule(temperature=st.sampled_from([None, 4.0, 6.9, 7.5, 8.0, 8.1, 12.0]))
    def fridge(self, temperature: float | None) -> None:
        if temperature is None:
            self.sensors.pop(("fridge", "temperature"), None)
        else:
            self.sensors["fridge", "temperature"] = temperature
        self._commit(self.vm.observe(now=self.now, sensors=self.sensors))

    @rule(slot=SLOTS, count=st.integers(0, 3))
    def restock(self, slot: str, count: int) -> None:
        self._fire("restock", {"slot": slot, "count": count})

    @rule(slot=SLOTS, price=st.sampled_from([0, 500, 3000, 9000]))
    def set_price(self, slot: str, price: int) -> None:
        self._fire("set_price", {"slot": slot, "price": price})

    @rule()
    def repaired(self) -> None:
        self._fire("repaired")

    @rule(state=st.sampled_from([*CONFIG.states, "nowhere"]))
    def set_state(self, state: str) -> None:
        step = self.vm.set_state(state, now=self.now, sensors=self.sensors)
        if step.ok:
            self.dispense = None
        self._commit(step)

    # --- the runtime's part of a dispense, one step at a time ---------------------------------

    @precondition(lambda self: self.dispense is not None)
    @rule()
    def mark(self) -> None:
        assert self.dispense is not None
        step = self.vm.start_dispense(self.dispense.order, now=self.now)
        self._commit(step)
        if not step.ok:  # marked already: never drive it again
            self.dispense = None

    @precondition(
        lambda self: (
            self.dispense is not None
            and self.vm.s.order is not None
            and self.vm.s.order.id == self.dispense.order
            and self.vm.s.order.status == "dispensing"
            and self.driven is None
        )
    )
    @rule(works=st.booleans())
    def drive_output(self, works: bool) -> None:
        assert self.dispense is not None
        if works:
            self.released[self.dispense.order] += 1
        self.driven = (self.dispense.order, works)
        self.dispense = None

    @precondition(lambda self: self.driven is not None)
    @rule()
    def report(self) -> None:
        assert self.driven is not None
        order, works = self.driven
        self.driven = None
        event = "dispensed" if works else "dispense_failed"
        assert self._fire(event, {"order": order}).ok

    @precondition(lambda self: self.vm.state == "needs_attention")
    @rule()
    def person_settles(self) -> None:
        order = self.vm.s.order
        assert order is not None
        outcome = "dispensed" if self.released[order.id] else "refunded"
        assert self._fire("settle", {"outcome": outcome}).ok

    @rule()
    def crash(self) -> None:
        self.abandoned.append(self.ledger)  # never closed: kill -9
        self.dispense = None
        self.driven = None
        self.crashes += 1
        self._open()

    @precondition(lambda self: self.vm.s.order is not None)
    @rule()
    def crash_while_an_order_is_in_flight(self) -> None:
        """The same crash, made likelier where it matters most."""
        self.crash()

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def declared_state(self) -> None:
        assert self.vm.state in CONFIG.states

    @invariant()
    def stock_never_negative(self) -> None:
        assert min(self.vm.s.stock.values()) >= 0

    @invariant()
    def money_conserved(self) -> None:
        s = self.vm.s
        assert s.balanced, s
        assert replay(self.ledger.entries(CONFIG.id, limit=1_000_000)) == {
            "inserted": s.inserted,
            "sales": s.sales,
            "change": s.change,
            "refunds": s.refunds,
        }

    @invariant()
    def stock_matches_the_ledger(self) -> None:
        expected: Counter[str] = Counter()
        for entry in self.ledger.entries(CONFIG.id, limit=1_000_000):
            if entry.kind == "restock" and entry.slot is not None:
                expected[entry.slot] += entry.count
            elif entry.kind == "sale" and entry.slot is not None:
                expected[entry.slot] -= 1
        if self.vm.s.order is not None:
            expected[self.vm.s.order.slot] -= 1  # reserved by the order in flight
        assert {slot: expected[slot] for slot in self.vm.s.stock} == self.vm.s.stock

    @invariant()
    def the_ledger_has_what_memory_has(self) -> None:
        stored = self.ledger.load(CONFIG.id, VendingState)
        assert stored is not None
        memory = self.vm.snapshot()
        stored.too_warm = memory.too_warm  # seen but maybe not stored yet: read again at start
        assert stored == memory
        entries = self.ledger.entries(CONFIG.id, limit=1_000_000)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))

    @invariant()
    def no_order_released_twice_and_none_lost(self) -> None:
        assert all(count <= 1 for count in self.released.values()), self.released
        ended: Counter[int] = Counter()
        sold: set[int] = set()
        for entry in self.ledger.entries(CONFIG.id, limit=1_000_000):
            if entry.order is not None and entry.kind in ("sale", "refund"):
                ended[entry.order] += 1
                if entry.kind == "sale":
                    sold.add(entry.order)
        in_flight = self.vm.s.order.id if self.vm.s.order is not None else None
        for order in self.orders:
            assert ended[order] == (0 if order == in_flight else 1), (order, ended)
        assert all(self.released[order] == 1 for order in sold)  # sold = released
        assert all(self.released[order] == 0 for order in ended if order not in sold)

    def teardown(self) -> None:
        for ledger in [*self.abandoned, self.ledger]:
            ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)


VendingWithCrashes.TestCase.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None
)
test_vending_with_crashes = VendingWithCrashes.TestCase
