"""The vending machine: money, stock and orders on top of a machine's table; pure.

A machine with a ``vending`` block is run by ``VendingMachine``. Its table (``states``,
``transitions``, ``services`` in the file) says which event is allowed when and where it
leads; this model gives the events and states their meaning for the money:

=================  =========================================================================
``coin``           a pulse of the coin acceptor: ``coin.value`` units of credit (taken in
                   every state: the money is already in the box)
``credit``         credit from Home Assistant: ``{"amount": n}``
``select``         ``{"slot": s}``: the product to buy (refused ``out_of_stock`` when empty)
``pay``            the selected product is paid from the credit (refused
                   ``insufficient_credit`` below its price): an *order* with its own id,
                   stock reserved, and the table goes to ``dispensing``
``dispensed``      the order was released: a *sale*; the rest of the credit is *change*
``dispense_failed`` the output failed: the order is *refunded*, its stock put back, the
                   output marked failed (out of service until ``repaired``)
``cancel``,        the selection is dropped and the credit *refunded*
``timeout``
``settle``         in ``needs_attention``: a person says what happened to the order the
                   restart found, ``{"outcome": "dispensed"}`` (a sale) or ``"refunded"``
``restock``        ``{"slot": s, "count": n}``; ``set_price`` ``{"slot": s, "price": p}``;
``repaired``       the failed outputs work again (admin)
=================  =========================================================================

Entering ``out_of_service`` refunds the credit; entering any state but
``awaiting_payment`` drops an unpaid selection.

Exactly once. ``pay`` makes the order and the ``dispenser`` service acts with a
``Dispense`` action. Before driving the output the runtime calls ``start_dispense(order)``
and commits its step: the order is then marked as being dispensed. After a restart
(``VendingMachine.restore``) an order still ``paid`` is dispensed (it never started); an
order marked ``dispensing`` may or may not have left the machine, so the machine stops in
``needs_attention`` naming it, and nothing dispenses it again. Either way the paid order
is never lost.

Every step returns the ledger entries it makes (``Entry``: ``seq``, ``ts`` and what
happened) and the state to store with them: ``runtime/ledger.py`` commits both in one
transaction, so after a crash the state and the entries agree. Invariants, checked by the
tests after every step: stock is never negative, and the money is conserved::

    inserted == sales + change + refunds + credit + (price of the order in flight)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from iot_monitor_bridge.config import MachineConfig, ProductConfig, VendingConfig
from iot_monitor_bridge.contract.commands import MAX_AMOUNT, MAX_COUNT
from iot_monitor_bridge.machines.engine import (
    Accepted,
    DispenseProduct,
    EventData,
    Refused,
    Result,
    RunService,
    Transition,
)
from iot_monitor_bridge.machines.expr import Guard, SensorValues
from iot_monitor_bridge.machines.recorded import Entry, MachineState, RecordedMachine, Step

_IN_FLIGHT_STATES: Final = ("dispensing", "needs_attention")


class Order(msgspec.Struct, frozen=True):
    """A paid order: ``status`` is ``paid`` until the runtime starts dispensing it."""

    id: int
    slot: str
    price: int
    status: Literal["paid", "dispensing"] = "paid"


class VendingState(MachineState):
    """Everything a restart of a vending machine needs: the machine's and the money's."""

    credit: int = 0
    selection: str | None = None
    order: Order | None = None
    stock: dict[str, int] = msgspec.field(default_factory=dict)
    prices: dict[str, int] = msgspec.field(default_factory=dict)
    failed_outputs: list[str] = msgspec.field(default_factory=list)
    too_warm: bool = False
    """The ``out_of_service`` condition held (it stays until ``back_in_service``)."""
    held: bool = False
    """An admin put the machine out of service (``set_state``); until another ``set_state``
    or ``repaired``."""
    next_order: int = 1
    inserted: int = 0
    sales: int = 0
    sold: int = 0
    """Products sold (``sales`` is their money)."""
    change: int = 0
    refunds: int = 0

    @property
    def in_flight(self) -> int:
        """The money of the paid order not yet sold or refunded."""
        return self.order.price if self.order is not None else 0

    @property
    def balanced(self) -> bool:
        """Money conserved: every unit inserted is sold, returned or still held."""
        held = self.credit + self.in_flight
        return self.inserted == self.sales + self.change + self.refunds + held


@dataclass(frozen=True, slots=True)
class Dispense:
    """Release one product of ``slot`` for order ``order``.

    Drive ``device``/``output`` on for ``seconds``. Call
    ``VendingMachine.start_dispense(order)`` and commit its step first.
    """

    order: int
    slot: str
    device: str
    output: str
    seconds: float | None


@dataclass(frozen=True, slots=True)
class PayOut:
    """Money goes back to the customer: ``reason`` is ``change`` or ``refund``."""

    amount: int
    reason: Literal["change", "refund"]
    order: int | None = None


class VendingMachine(RecordedMachine[VendingState]):
    """A vending machine: a recorded machine plus the money, stock and orders."""

    state_type = VendingState

    def __init__(self, config: MachineConfig, saved: VendingState | None = None) -> None:
        if config.vending is None:
            raise ValueError(f"machine '{config.id}' has no vending block")
        super().__init__(config, saved)
        self.vending: VendingConfig = config.vending
        self.products: dict[str, ProductConfig] = {p.slot: p for p in self.vending.products}
        self._out_guard = (
            Guard(self.vending.out_of_service) if self.vending.out_of_service else None
        )
        self._back_guard = (
            Guard(self.vending.back_in_service) if self.vending.back_in_service else None
        )
        self._payouts: list[PayOut] = []

    # --- start and restart ---------------------------------------------------------------

    def _restarted(self, saved: VendingState | None, result: Result) -> Result:
        """A first start's stock, a resumed order, or the stop in ``needs_attention``."""
        for slot, product in self.products.items():
            if slot not in self.s.stock:  # a first start, or a product added to the file
                self.s.stock[slot] = product.stock
                self.s.prices[slot] = product.price
                self._entry("restock", slot=slot, count=product.stock, detail="initial stock")
        if saved is not None and saved.state not in self.spec.states:
            target = "needs_attention" if self.s.order is not None else self.spec.initial
            result = self._forced(target, f"the state '{saved.state}' is no longer configured")
        order = self.s.order
        if order is not None and self.machine.state == "dispensing":
            if order.status == "paid":  # the mark was never committed: nothing left the box
                resumed = self.machine.resume(self._now)
                result = Accepted("restart", self.machine.state, (), resumed.actions)
            else:
                result = self._forced(
                    "needs_attention",
                    f"order {order.id} (slot {order.slot}) was being dispensed when the "
                    "bridge stopped; settle it",
                )
                self._entry("attention", order=order.id, slot=order.slot, amount=order.price)
        return result

    # --- what guards read -----------------------------------------------------------------

    @property
    def out_of_service(self) -> bool:
        """Whether the machine is out of service.

        The sensor condition held (until back in service), an output failed, or an admin put
        the machine out of service.
        """
        return self.s.too_warm or self.s.held or bool(self.s.failed_outputs)

    def variables(self, data: EventData | None = None) -> dict[str, object]:
        """What guards read besides sensors.

        ``price`` and ``stock`` are those of the slot in ``data``, else of the selected one.
        """
        slot = (data or {}).get("slot", self.s.selection)
        slot = slot if isinstance(slot, str) and slot in self.products else None
        return {
            "credit": self.s.credit,
            "price": self.s.prices.get(slot) if slot is not None else None,
            "stock": self.s.stock.get(slot) if slot is not None else None,
            "stock_total": sum(self.s.stock.get(slot, 0) for slot in self.products),
            "out_of_service": self.out_of_service,
        }

    def start_dispense(self, order: int, *, now: float) -> Step:
        """Mark order ``order`` as being dispensed; commit this before driving the output.

        Refused when there is no such paid order (it is already dispensed or marked).
        """
        self._begin(now)
        current = self.s.order
        if current is None or current.id != order or current.status != "paid":
            why = (
                "no order is in flight"
                if current is None
                else f"order {order} is not the paid order in flight"
                if current.id != order
                else f"order {order} is already being dispensed"
            )
            return Step(Refused("start_dispense", self.state, "no_order", why))
        self.s.order = msgspec.structs.replace(current, status="dispensing")
        self._entry("dispense", order=order, slot=current.slot, amount=current.price)
        return self._finish(Accepted("start_dispense", self.state))

    def _override_refused(self, target: str) -> Refused | None:
        """Refused while an order is in flight: ``settle`` it (or let it finish) first."""
        if self.s.order is not None:
            return Refused(
                "set_state",
                self.state,
                "order_in_flight",
                f"order {self.s.order.id} is in flight; it ends with dispensed, "
                "dispense_failed or settle",
            )
        if target in _IN_FLIGHT_STATES:
            return Refused(
                "set_state", self.state, "invalid", f"'{target}' needs an order in flight"
            )
        return None

    def _overridden(self, target: str) -> None:
        self.s.held = target == "out_of_service"

    # --- the money ---------------------------------------------------------------------------

    def _check(self, event: str, data: dict[str, object]) -> Refused | None:
        """The event's data and what the money needs, before the table is asked."""
        check = {
            "select": self._check_slot,
            "restock": self._check_slot,
            "set_price": self._check_slot,
            "credit": self._check_credit,
            "pay": self._check_pay,
            "dispensed": self._check_order,
            "dispense_failed": self._check_order,
            "settle": self._check_order,
        }.get(event)
        problem = check(event, data) if check is not None else None
        if problem is None:
            return None
        return Refused(event, self.state, problem[0], problem[1], self.machine.allowed())

    def _check_slot(self, event: str, data: dict[str, object]) -> tuple[str, str] | None:
        slot = data.get("slot")
        if not isinstance(slot, str):
            return "invalid", f"'{event}' needs the slot: {{\"slot\": ...}}"
        if slot not in self.products:
            return "unknown_slot", f"unknown slot {slot!r}; slots: {', '.join(self.products)}"
        if event == "select" and self.s.stock.get(slot, 0) <= 0:
            return "out_of_stock", f"slot {slot} ({self.products[slot].name}) is out of stock"
        if event == "restock" and _count(data.get("count"), MAX_COUNT) is None:
            return "invalid", f"count: expected an integer from 1 to {MAX_COUNT}"
        if event == "set_price" and _count(data.get("price"), MAX_AMOUNT) is None:
            return "invalid", f"price: expected an integer from 1 to {MAX_AMOUNT}"
        return None

    def _check_credit(self, event: str, data: dict[str, object]) -> tuple[str, str] | None:
        del event
        if _count(data.get("amount"), MAX_AMOUNT) is None:
            return "invalid", f"amount: expected an integer from 1 to {MAX_AMOUNT}"
        return None

    def _check_pay(self, event: str, data: dict[str, object]) -> tuple[str, str] | None:
        del event, data
        slot = self.s.selection
        if slot is None:
            return "nothing_selected", "select a product before paying"
        if slot not in self.products:
            return "unknown_slot", f"slot {slot!r} is no longer sold"
        price = self.s.prices[slot]
        if self.s.credit < price:
            return (
                "insufficient_credit",
                f"credit {self.s.credit} is less than the price {price} of slot {slot}",
            )
        if self.s.stock.get(slot, 0) <= 0:
            return "out_of_stock", f"slot {slot} is out of stock"
        return None

    def _check_order(self, event: str, data: dict[str, object]) -> tuple[str, str] | None:
        order = self.s.order
        if order is None:
            return "no_order", f"'{event}': no order is in flight"
        if "order" in data and data["order"] != order.id:
            return "no_order", f"'{event}': order {data['order']} is not the one in flight"
        if event == "dispensed" and order.status != "dispensing":
            return "no_order", f"order {order.id} was not marked with start_dispense"
        if event == "settle" and data.get("outcome") not in ("dispensed", "refunded"):
            return "invalid", 'settle needs {"outcome": "dispensed"} or {"outcome": "refunded"}'
        return None

    def _effects(self, result: Accepted, data: dict[str, object]) -> None:
        """What the accepted event (one transition) does to the money and the stock."""
        effect = {
            "coin": self._on_coin,
            "credit": self._on_credit,
            "select": self._on_select,
            "pay": self._on_pay,
            "dispensed": self._on_dispensed,
            "dispense_failed": self._on_dispense_failed,
            "settle": self._on_settle,
            "cancel": self._on_cancel,
            "timeout": self._on_cancel,
            "restock": self._on_restock,
            "set_price": self._on_set_price,
            "repaired": self._on_repaired,
        }.get(result.event)
        if effect is not None:
            effect(data)
        super()._effects(result, data)

    def _on_coin(self, data: dict[str, object]) -> None:
        del data
        self._credit(self.vending.coin.value if self.vending.coin is not None else 1, "coin")

    def _on_credit(self, data: dict[str, object]) -> None:
        self._credit(_count(data["amount"], MAX_AMOUNT) or 0, "command")

    def _on_select(self, data: dict[str, object]) -> None:
        self.s.selection = str(data["slot"])

    def _on_pay(self, data: dict[str, object]) -> None:
        del data
        s = self.s
        if s.selection is None:  # pragma: no cover - _check_pay refused it
            return
        slot = s.selection
        price = s.prices[slot]
        s.order = Order(s.next_order, slot, price)
        s.next_order += 1
        s.credit -= price
        s.stock[slot] -= 1
        s.selection = None

    def _on_dispensed(self, data: dict[str, object]) -> None:
        del data
        if self.s.order is not None:
            self._sale(self.s.order)
        self._return_credit("change")

    def _on_dispense_failed(self, data: dict[str, object]) -> None:
        del data
        order = self.s.order
        if order is not None:
            self._refund_order(order, "dispense failed")
            output = self.products[order.slot].output
            if output not in self.s.failed_outputs:
                self.s.failed_outputs.append(output)
        self._return_credit("refund")

    def _on_settle(self, data: dict[str, object]) -> None:
        order = self.s.order
        if order is not None and data.get("outcome") == "dispensed":
            self._sale(order, detail="settled as dispensed")
        elif order is not None:
            self._refund_order(order, "settled as refunded")
        self._return_credit("refund")

    def _on_cancel(self, data: dict[str, object]) -> None:
        del data
        self.s.selection = None
        self._return_credit("refund")

    def _on_restock(self, data: dict[str, object]) -> None:
        slot, count = str(data["slot"]), _count(data["count"], MAX_COUNT) or 0
        self.s.stock[slot] = self.s.stock.get(slot, 0) + count
        self._entry("restock", slot=slot, count=count)

    def _on_set_price(self, data: dict[str, object]) -> None:
        slot, price = str(data["slot"]), _count(data["price"], MAX_AMOUNT) or 0
        self._entry("price", slot=slot, amount=price, detail=f"was {self.s.prices.get(slot)}")
        self.s.prices[slot] = price

    def _on_repaired(self, data: dict[str, object]) -> None:
        del data
        failed = ", ".join(self.s.failed_outputs) or "nothing had failed"
        self._entry("override", detail=f"repaired: {failed}")
        self.s.failed_outputs.clear()
        self.s.held = False

    def _entered(self, transition: Transition) -> None:
        if transition.target != "awaiting_payment":
            self.s.selection = None
        if transition.target == "out_of_service" and self.s.order is None:
            self._return_credit("refund")

    def _update_condition(self, sensors: SensorValues) -> bool:
        """Whether the out-of-service condition changed; unknown counts as out of service."""
        if self._out_guard is None:
            return False
        before = self.s.too_warm
        value = self._out_guard.value(sensors, {})
        if not before and value is not False:
            self.s.too_warm = True
        elif before:
            back = (
                self._back_guard.value(sensors, {}) is True
                if self._back_guard is not None
                else value is False
            )
            self.s.too_warm = not back
        return self.s.too_warm != before

    def _credit(self, amount: int, source: str) -> None:
        self.s.credit += amount
        self.s.inserted += amount
        self._entry("credit", amount=amount, detail=source)

    def _sale(self, order: Order, detail: str = "") -> None:
        self.s.sales += order.price
        self.s.sold += 1
        self._entry("sale", amount=order.price, slot=order.slot, order=order.id, detail=detail)
        self.s.order = None

    def _refund_order(self, order: Order, why: str) -> None:
        self.s.refunds += order.price
        self.s.stock[order.slot] = self.s.stock.get(order.slot, 0) + 1
        self._entry("refund", amount=order.price, slot=order.slot, order=order.id, detail=why)
        self._payouts.append(PayOut(order.price, "refund", order.id))
        self.s.order = None

    def _return_credit(self, reason: Literal["change", "refund"]) -> None:
        amount = self.s.credit
        if amount <= 0:
            return
        self.s.credit = 0
        if reason == "change":
            self.s.change += amount
        else:
            self.s.refunds += amount
        self._entry(reason, amount=amount)
        self._payouts.append(PayOut(amount, reason))

    # --- bookkeeping -------------------------------------------------------------------------

    def _begin(self, now: float) -> None:
        super()._begin(now)
        self._payouts = []

    def _finish(self, result: Result) -> Step:
        """The step, with ``dispense: true`` resolved to the order and the pay-outs after."""
        step = super()._finish(result)
        actions = tuple(self._resolved(a) for a in step.actions) + tuple(self._payouts)
        return dataclasses.replace(step, actions=actions)

    def _resolved(self, action: object) -> object:
        """``dispense: true`` as the order's own ``Dispense``."""
        if isinstance(action, RunService):
            inner = tuple(self._resolved(a) for a in action.actions)
            return RunService(action.service, inner, action.then, action.otherwise)
        if isinstance(action, DispenseProduct):
            order = self.s.order
            if order is None:
                return action  # nothing to dispense: the runtime skips it
            device, _, output = self.products[order.slot].output.partition("/")
            return Dispense(order.id, order.slot, device, output, action.seconds)
        return action


def _count(value: object, high: int) -> int | None:
    """``value`` if it is an integer from 1 to ``high`` (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        return None
    return value


def replay(entries: Mapping[int, Entry] | list[Entry]) -> dict[str, int]:
    """Totals recomputed from ledger entries alone (the tests compare them with the state)."""
    totals = {"inserted": 0, "sales": 0, "change": 0, "refunds": 0}
    items = entries.values() if isinstance(entries, Mapping) else entries
    for entry in items:
        if entry.kind == "credit":
            totals["inserted"] += entry.amount
        elif entry.kind == "sale":
            totals["sales"] += entry.amount
        elif entry.kind == "change":
            totals["change"] += entry.amount
        elif entry.kind == "refund":
            totals["refunds"] += entry.amount
    return totals
