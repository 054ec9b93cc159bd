"""The vending model of bridge/examples/vending.yaml: every transition and guard; pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.config import MachineConfig, load_config, parse_config
from iot_monitor_bridge.machines.engine import DriveOutput, Refused, RunService
from iot_monitor_bridge.machines.vending import (
    Dispense,
    PayOut,
    Step,
    VendingMachine,
    VendingState,
    replay,
)

EXAMPLE_PATH = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
CONFIG: MachineConfig = load_config(EXAMPLE_PATH).machines[0]
COOL = {("fridge", "temperature"): 5.0}
WARM = {("fridge", "temperature"): 9.0}


class Bench:
    """A vending machine on a fake clock, keeping every entry it made."""

    def __init__(self, config: MachineConfig = CONFIG, saved: VendingState | None = None) -> None:
        self.now = 1_000.0
        self.sensors: dict[tuple[str, str], object] = dict(COOL)
        self.vm, step = VendingMachine.restore(config, saved, now=self.now, sensors=self.sensors)
        self.entries = list(step.entries)
        self.last = step

    def _keep(self, step: Step | None) -> Step | None:
        if step is not None:
            self.entries += step.entries
            self.last = step
            assert self.vm.s.balanced, self.vm.s
            assert min(self.vm.s.stock.values()) >= 0
            assert self.vm.state in CONFIG.states
        return step

    def fire(self, event: str, **data: Any) -> Step:
        step = self.vm.fire(event, data, now=self.now, sensors=self.sensors)
        self._keep(step)
        return step

    def refused(self, event: str, code: str, **data: Any) -> Refused:
        before = self.vm.snapshot()
        step = self.fire(event, **data)
        assert isinstance(step.result, Refused), step.result
        assert step.result.code == code, step.result
        assert step.entries == ()
        assert step.state is None
        assert self.vm.snapshot() == before
        return step.result

    def coins(self, n: int) -> None:
        for _ in range(n):
            assert self.fire("coin").ok

    def buy(self, slot: str) -> int:
        """Select, pay, dispense as the runtime would; the order id."""
        assert self.fire("select", slot=slot).ok
        step = self.fire("pay")
        assert step.ok, step.result
        order = self.vm.s.order
        assert order is not None
        assert self._keep(self.vm.start_dispense(order.id, now=self.now)).ok  # type: ignore[union-attr]
        assert self.fire("dispensed", order=order.id).ok
        return order.id

    def advance(self, seconds: float) -> Step | None:
        self.now += seconds
        return self._keep(self.vm.tick(now=self.now, sensors=self.sensors))

    def observe(self, **sensors: float) -> Step | None:
        self.sensors.update({("fridge", key): value for key, value in sensors.items()})
        return self._keep(self.vm.observe(now=self.now, sensors=self.sensors))

    def kinds(self, step: Step | None = None) -> list[str]:
        return [e.kind for e in (step or self.last).entries]


def test_a_first_start_records_the_initial_stock() -> None:
    bench = Bench()
    assert bench.vm.state == "idle"
    assert bench.vm.s.stock == {"a": 10, "b": 12, "c": 6}
    assert [(e.kind, e.slot, e.count) for e in bench.entries[1:]] == [
        ("restock", "a", 10),
        ("restock", "b", 12),
        ("restock", "c", 6),
    ]
    assert [e.seq for e in bench.entries] == [1, 2, 3, 4]
    assert bench.entries[0].ts == 1_000_000


def test_a_coin_pulse_is_credit_in_every_state() -> None:
    bench = Bench()
    for state in CONFIG.states:
        if state in ("dispensing", "needs_attention"):
            continue  # these need an order: below
        bench.vm.machine.state = state
        before = bench.vm.s.credit
        step = bench.fire("coin")
        assert step.ok, (state, step.result)
        assert bench.vm.s.credit == before + 500 or state == "out_of_service"


def test_a_full_purchase_sale_and_change() -> None:
    bench = Bench()
    bench.coins(7)  # 3500
    assert bench.fire("select", slot="b").ok
    assert bench.vm.state == "awaiting_payment"
    step = bench.fire("pay")
    assert bench.vm.state == "dispensing"
    order = bench.vm.s.order
    assert order is not None
    assert (order.slot, order.price, order.status) == ("b", 3000, "paid")
    assert bench.vm.s.credit == 500
    assert bench.vm.s.stock["b"] == 11  # reserved at payment
    assert DriveOutput("vending", "busy_lamp", True) in step.actions
    (run,) = [a for a in step.actions if isinstance(a, RunService)]
    assert run.actions == (Dispense(order.id, "b", "vending", "dispense_b", 2.0),)
    assert (run.then, run.otherwise) == ("dispensed", "dispense_failed")
    mark = bench.vm.start_dispense(order.id, now=bench.now)
    assert mark.ok
    assert bench.vm.s.order.status == "dispensing"  # type: ignore[union-attr]
    assert [e.kind for e in mark.entries] == ["dispense"]
    step = bench.fire("dispensed", order=order.id)
    assert bench.vm.state == "idle"
    assert bench.kinds(step) == ["sale", "change", "transition"]
    assert PayOut(500, "change") in step.actions
    assert (bench.vm.s.sales, bench.vm.s.change, bench.vm.s.credit) == (3000, 500, 0)
    assert bench.vm.s.order is None


def test_pay_needs_a_selection_and_enough_credit() -> None:
    bench = Bench()
    bench.refused("pay", "not_allowed")  # the table: pay only in awaiting_payment
    bench.coins(2)
    assert bench.fire("select", slot="c").ok
    refused = bench.refused("pay", "insufficient_credit")
    assert refused.message == "credit 1000 is less than the price 8000 of slot c"
    assert refused.state == "awaiting_payment"


def test_select_needs_a_known_slot_in_stock() -> None:
    bench = Bench()
    bench.refused("select", "invalid")
    assert (
        "unknown slot 'z'; slots: a, b, c"
        in bench.refused("select", "unknown_slot", slot="z").message
    )
    bench.vm.s.stock["a"] = 0
    assert bench.refused("select", "out_of_stock", slot="a").message == (
        "slot a (Teh botol) is out of stock"
    )


def test_credit_from_home_assistant() -> None:
    bench = Bench()
    assert bench.fire("credit", amount=5000).ok
    assert bench.vm.s.credit == 5000
    assert bench.kinds() == ["credit", "transition"]
    for bad in (0, -5, 10**10, True, "5", 1.5):
        bench.refused("credit", "invalid", amount=bad)


def test_cancel_refunds_and_drops_the_selection() -> None:
    bench = Bench()
    bench.coins(3)
    bench.fire("select", slot="a")
    step = bench.fire("cancel")
    assert bench.vm.state == "idle"
    assert (bench.vm.s.credit, bench.vm.s.refunds, bench.vm.s.selection) == (0, 1500, None)
    assert PayOut(1500, "refund") in step.actions


def test_awaiting_payment_times_out_on_the_fake_clock_and_refunds() -> None:
    bench = Bench()
    bench.coins(1)
    bench.fire("select", slot="a")
    assert bench.vm.due() == bench.now + 60
    assert bench.advance(59.9) is None
    step = bench.advance(0.1)
    assert step is not None
    assert step.ok
    assert step.result.transitions[0].trigger == "timeout"  # type: ignore[union-attr]
    assert bench.vm.state == "idle"
    assert (bench.vm.s.credit, bench.vm.s.refunds) == (0, 500)
    assert bench.vm.due() is None


def test_a_new_selection_restarts_the_timeout() -> None:
    bench = Bench()
    bench.fire("select", slot="a")
    bench.now += 50
    bench.fire("select", slot="b")
    assert bench.advance(50) is None
    assert bench.vm.s.selection == "b"


def test_the_last_item_sold_is_out_of_stock_until_a_restock() -> None:
    bench = Bench()
    for slot in ("a", "b", "c"):
        bench.vm.s.stock[slot] = 1 if slot == "a" else 0
    bench.coins(10)
    bench.buy("a")
    assert bench.vm.state == "out_of_stock"
    bench.refused("select", "not_allowed", slot="a")
    assert bench.fire("restock", slot="b", count=5).ok
    assert bench.vm.state == "idle"
    assert bench.vm.s.stock["b"] == 5
    assert "restock" in bench.kinds()
    bench.refused("restock", "invalid", slot="b", count=0)


def test_set_price_applies_to_the_next_payment_and_is_logged() -> None:
    bench = Bench()
    assert bench.fire("set_price", slot="a", price=1000).ok
    price = next(e for e in bench.last.entries if e.kind == "price")
    assert (price.slot, price.amount, price.detail) == ("a", 1000, "was 5000")
    bench.coins(2)
    bench.buy("a")
    assert bench.vm.s.sales == 1000
    bench.refused("set_price", "invalid", slot="a", price=0)


def test_out_of_service_while_too_warm_refunds_and_comes_back_with_hysteresis() -> None:
    bench = Bench()
    bench.coins(2)
    bench.fire("select", slot="a")
    step = bench.observe(temperature=8.5)
    assert step is not None
    assert bench.vm.state == "out_of_service"
    assert (bench.vm.s.credit, bench.vm.s.refunds, bench.vm.s.selection) == (0, 1000, None)
    assert DriveOutput("fridge", "service_lamp", True) in step.actions
    bench.refused("select", "not_allowed", slot="a")
    assert bench.observe(temperature=7.5) is None  # not yet back: below 7 is
    assert bench.vm.state == "out_of_service"
    step = bench.observe(temperature=6.9)
    assert step is not None
    assert bench.vm.state == "idle"
    assert DriveOutput("fridge", "service_lamp", False) in step.actions


def test_an_unknown_temperature_is_out_of_service() -> None:
    bench = Bench()
    bench.sensors.clear()
    bench.observe()
    assert bench.vm.state == "out_of_service"


def test_the_guard_is_checked_when_an_event_comes_too() -> None:
    bench = Bench()
    bench.sensors.update(WARM)
    step = bench.fire("coin")
    assert bench.vm.state == "out_of_service"
    assert bench.vm.s.refunds == 500  # the coin came in, and went back
    assert PayOut(500, "refund") in step.actions


def test_a_dispense_output_failing_refunds_the_order_and_stops_until_repaired() -> None:
    bench = Bench()
    bench.coins(12)
    bench.fire("select", slot="a")
    bench.fire("pay")
    order = bench.vm.s.order
    assert order is not None
    bench.vm.start_dispense(order.id, now=bench.now)
    step = bench.fire("dispense_failed", order=order.id, error="relay")
    assert bench.vm.state == "out_of_service"
    assert bench.vm.s.stock["a"] == 10  # the product did not leave
    assert bench.vm.s.failed_outputs == ["vending/dispense_a"]
    assert bench.vm.s.order is None
    assert (bench.vm.s.refunds, bench.vm.s.credit) == (6000, 0)
    assert PayOut(5000, "refund", order.id) in step.actions
    assert bench.observe(temperature=5.0) is None  # the fridge is fine; the output is not
    assert bench.fire("repaired").ok
    assert bench.vm.state == "idle"
    assert bench.vm.s.failed_outputs == []


def test_dispensed_needs_the_mark_and_the_order_in_flight() -> None:
    bench = Bench()
    bench.refused("dispensed", "not_allowed")
    bench.coins(10)
    bench.fire("select", slot="a")
    bench.fire("pay")
    order = bench.vm.s.order
    assert order is not None
    bench.refused("dispensed", "no_order", order=order.id)  # not marked
    assert bench.vm.start_dispense(order.id, now=bench.now).ok
    again = bench.vm.start_dispense(order.id, now=bench.now)
    assert isinstance(again.result, Refused)
    assert again.result.message == f"order {order.id} is already being dispensed"
    bench.refused("dispensed", "no_order", order=order.id + 1)
    bench.refused("cancel", "not_allowed")
    assert bench.fire("dispensed", order=order.id).ok
    assert isinstance(bench.vm.start_dispense(order.id, now=bench.now).result, Refused)


def _paid(bench: Bench) -> int:
    bench.coins(10)
    bench.fire("select", slot="a")
    bench.fire("pay")
    assert bench.vm.s.order is not None
    return bench.vm.s.order.id


def test_a_restart_before_the_mark_dispenses_the_paid_order() -> None:
    bench = Bench()
    order = _paid(bench)
    again = Bench(saved=bench.vm.snapshot())
    assert again.vm.state == "dispensing"
    (run,) = [a for a in again.last.actions if isinstance(a, RunService)]
    assert run.actions == (Dispense(order, "a", "vending", "dispense_a", 2.0),)


def test_a_restart_after_the_mark_stops_in_needs_attention_naming_the_order() -> None:
    bench = Bench()
    order = _paid(bench)
    bench.vm.start_dispense(order, now=bench.now)
    again = Bench(saved=bench.vm.snapshot())
    assert again.vm.state == "needs_attention"
    assert not any(isinstance(a, (RunService, Dispense)) for a in again.last.actions)
    attention = [e for e in again.last.entries if e.kind == "attention"]
    assert [(e.order, e.slot, e.amount) for e in attention] == [(order, "a", 5000)]
    assert f"order {order} (slot a)" in next(
        e.detail for e in again.last.entries if e.kind == "override"
    )
    again.refused("select", "not_allowed", slot="a")
    assert again.vm.s.order is not None  # the paid order is kept
    again.refused("settle", "invalid", outcome="maybe")
    assert again.fire("settle", outcome="dispensed").ok
    assert again.vm.state == "idle"
    assert again.vm.s.sales == 5000


def test_settle_as_refunded_returns_the_money_and_the_stock() -> None:
    bench = Bench()
    order = _paid(bench)
    bench.vm.start_dispense(order, now=bench.now)
    again = Bench(saved=bench.vm.snapshot())
    assert again.fire("settle", outcome="refunded", order=order).ok
    assert (again.vm.s.refunds, again.vm.s.sales, again.vm.s.stock["a"]) == (5000, 0, 10)


def test_set_state_is_an_admin_override_refused_while_an_order_is_in_flight() -> None:
    bench = Bench()
    step = bench.vm.set_state("out_of_service", now=bench.now, sensors=bench.sensors)
    assert step.ok
    assert [e.kind for e in step.entries][:1] == ["override"]
    assert bench.vm.state == "out_of_service"
    back = bench.vm.set_state("idle", now=bench.now, sensors=bench.sensors)
    assert back.ok
    assert isinstance(bench.vm.set_state("nowhere", now=0, sensors=COOL).result, Refused)
    assert isinstance(bench.vm.set_state("dispensing", now=0, sensors=COOL).result, Refused)
    _paid(bench)
    refused = bench.vm.set_state("idle", now=bench.now, sensors=bench.sensors).result
    assert isinstance(refused, Refused)
    assert refused.code == "order_in_flight"


def test_a_state_removed_from_the_file_is_left_with_an_override() -> None:
    bench = Bench()
    saved = bench.vm.snapshot()
    saved.state = "maintenance"
    again = Bench(saved=saved)
    assert again.vm.state == "idle"
    assert any("no longer configured" in e.detail for e in again.last.entries)


def test_seq_never_repeats_and_the_entries_explain_the_totals() -> None:
    bench = Bench()
    bench.coins(20)
    bench.buy("b")
    bench.fire("select", slot="a")
    bench.fire("cancel")
    seqs = [e.seq for e in bench.entries]
    assert seqs == list(range(1, len(seqs) + 1))
    s = bench.vm.s
    assert replay(bench.entries) == {
        "inserted": s.inserted,
        "sales": s.sales,
        "change": s.change,
        "refunds": s.refunds,
    }


def test_a_product_added_to_the_file_gets_its_stock() -> None:
    bench = Bench()
    saved = bench.vm.snapshot()
    text = EXAMPLE_PATH.read_text(encoding="utf-8").replace(
        "        - {slot: c,",
        "        - {slot: d, name: Susu, price: 4000, stock: 3, output: vending/dispense_c}\n"
        "        - {slot: c,",
    )
    config = parse_config(text).machines[0]
    again = Bench(config, saved)
    assert again.vm.s.stock["d"] == 3
    assert [(e.kind, e.slot) for e in again.last.entries] == [("restock", "d")]


@pytest.mark.parametrize("event", ["coin", "select", "pay", "cancel", "restock"])
def test_events_the_table_does_not_allow_in_needs_attention_are_refused(event: str) -> None:
    bench = Bench()
    order = _paid(bench)
    bench.vm.start_dispense(order, now=bench.now)
    again = Bench(saved=bench.vm.snapshot())
    step = again.vm.fire(event, {"slot": "a", "count": 1}, now=again.now, sensors=COOL)
    assert step.ok is (event in ("coin", "restock"))
    if not step.ok:
        assert isinstance(step.result, Refused)
        assert "needs_attention" in step.result.message
