"""A machine whose every step is recorded: the engine's table plus the ledger's bookkeeping.

``RecordedMachine`` runs any machine of the file; each call (``fire``, ``tick``,
``observe``, ``set_state``, the start) returns a ``Step``: the engine's result, the ledger
entries it made (a ``transition`` entry per transition taken, an ``override`` per admin
move) and the state to store with them. ``runtime/ledger.py`` commits both in one
transaction, so after a crash the stored state and the entries agree, and a restart
(``restore``) goes on where the last commit left off. The vending model
(``machines/vending.py``) is a subclass that gives the events a meaning for money, stock
and orders through the hooks below. Pure: no I/O, time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Generic, Self, TypeVar

import msgspec

from iot_monitor_bridge.config import MachineConfig
from iot_monitor_bridge.machines.engine import (
    Accepted,
    EventData,
    Machine,
    MachineSpec,
    Refused,
    Result,
    Transition,
)
from iot_monitor_bridge.machines.expr import SensorValues

ENTRY_KINDS: Final = (
    "transition",
    "credit",
    "sale",
    "change",
    "refund",
    "restock",
    "price",
    "override",
    "dispense",
    "attention",
)


class Entry(msgspec.Struct, frozen=True):
    """One line of the ledger.

    ``kind``, one of ``ENTRY_KINDS``: ``transition`` and ``override`` for any machine; for a
    vending machine also ``credit``, ``sale``, ``change``, ``refund``, ``restock``, ``price``,
    ``dispense`` (an order is about to be released) and ``attention`` (a restart found an
    order it cannot finish).
    """

    seq: int
    ts: int
    """Milliseconds since the Unix epoch (``now`` as the runtime passed it)."""
    kind: str
    amount: int = 0
    slot: str | None = None
    order: int | None = None
    count: int = 0
    detail: str = ""


class MachineState(msgspec.Struct):
    """What a restart needs of any machine: stored with every step (``runtime/ledger.py``)."""

    state: str
    entered_at: float = 0.0
    timer_armed: bool = True
    seq: int = 0
    """The seq of the newest ledger entry."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one call did: the engine's result, the ledger entries, the state to store."""

    result: Result
    entries: tuple[Entry, ...] = ()
    state: MachineState | None = None
    """The state after the step, for the ledger; ``None`` when nothing changed."""
    actions: tuple[object, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the event was accepted."""
        return self.result.ok


S = TypeVar("S", bound=MachineState)


class RecordedMachine(Generic[S]):
    """One machine of the file, run step by step with a ledger entry per transition."""

    state_type: type[S]

    def __init__(self, config: MachineConfig, saved: S | None = None) -> None:
        self.config = config
        self.spec = MachineSpec(config)
        self._pending: list[Entry] = []
        self._now = 0.0
        self.s: S = self._copy(saved) if saved is not None else self.state_type(self.spec.initial)
        self.machine = Machine(
            self.spec,
            state=self.s.state if self.s.state in self.spec.states else None,
            entered_at=self.s.entered_at,
            timer_armed=self.s.timer_armed,
        )

    def _copy(self, state: S) -> S:
        return msgspec.json.decode(msgspec.json.encode(state), type=self.state_type)

    # --- start and restart ---------------------------------------------------------------

    @classmethod
    def restore(
        cls, config: MachineConfig, saved: S | None, *, now: float, sensors: SensorValues
    ) -> tuple[Self, Step]:
        """The machine after a start: fresh, or as ``saved`` left it.

        With the step to commit and carry out (a first start's entry actions, a vending
        machine's resumed order).
        """
        machine = cls(config, saved)
        return machine, machine._started(saved, now, sensors)

    def _started(self, saved: S | None, now: float, sensors: SensorValues) -> Step:
        self._begin(now)
        if saved is None:
            started = self.machine.start(now)
            self._after_transition(started.transitions[0])
            result: Result = started
        else:
            result = Accepted("restart", self.machine.state)
        result = self._restarted(saved, result)
        if isinstance(result, Accepted):
            result = result.then(self._automatic(now, sensors))
        return self._finish(result)

    def _restarted(self, saved: S | None, result: Result) -> Result:
        """What a restart does besides the table: leave a state that is no longer declared."""
        if saved is not None and saved.state not in self.spec.states:
            why = f"the state '{saved.state}' is no longer configured"
            return self._forced(self.spec.initial, why)
        return result

    def _forced(self, target: str, why: str) -> Accepted:
        source = self.machine.state
        result = self.machine.force(target, self._now)
        self._entry("override", detail=f"{source} -> {target}: {why}")
        self._after_transition(result.transitions[0])
        return Accepted("restart", self.machine.state, result.transitions, result.actions)

    # --- what guards read -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The machine's current state."""
        return self.machine.state

    def variables(self, data: EventData | None = None) -> dict[str, object]:
        """What guards read besides sensors: nothing, for a machine without a vending block."""
        del data
        return {}

    def snapshot(self) -> S:
        """A copy of the whole state, as the ledger stores it."""
        self.s.state = self.machine.state
        self.s.entered_at = self.machine.entered_at
        self.s.timer_armed = self.machine.timer_armed
        return self._copy(self.s)

    def due(self) -> float | None:
        """When ``tick`` has a timeout to fire, or ``None``."""
        return self.machine.due()

    # --- calls from the runtime -------------------------------------------------------------

    def fire(
        self, event: str, data: EventData | None, *, now: float, sensors: SensorValues
    ) -> Step:
        """Take ``event`` with ``data`` (from an input, Home Assistant, the kiosk, a service)."""
        data = dict(data or {})
        self._begin(now)
        changed = self._update_condition(sensors)
        refused: Result | None = None
        if event not in self.machine.allowed():  # the table's refusal names state and events
            refused = self.machine.step(event, data, now=now, sensors=sensors)
        else:
            refused = self._check(event, data)
        if refused is not None:  # a changed condition is stored all the same
            return Step(refused, state=self.snapshot() if changed else None)
        result = self.machine.step(
            event, data, now=now, sensors=sensors, variables=self.variables(data)
        )
        if not isinstance(result, Accepted):
            return Step(result, state=self.snapshot() if changed else None)
        self._effects(result, data)
        return self._finish(result.then(self._automatic(now, sensors)))

    def tick(self, *, now: float, sensors: SensorValues) -> Step | None:
        """Fire a due timeout; ``None`` when none is due."""
        if (due := self.due()) is None or now < due:
            return None
        self._begin(now)
        self._update_condition(sensors)
        result = self.machine.tick(
            now=now, sensors=sensors, variables=self.variables(), automatic=False
        )
        if not isinstance(result, Accepted):  # refused by a guard: the timer is spent
            return Step(result, state=self.snapshot()) if result is not None else None
        self._effects(result, {})
        return self._finish(result.then(self._automatic(now, sensors)))

    def observe(self, *, now: float, sensors: SensorValues) -> Step | None:
        """New sensor values: automatic transitions (and a vending machine's condition).

        ``None`` when nothing changed.
        """
        self._begin(now)
        changed = self._update_condition(sensors)
        result = self._automatic(now, sensors)
        if result is None:
            return Step(Accepted("observe", self.state), state=self.snapshot()) if changed else None
        return self._finish(result)

    def set_state(self, target: str, *, now: float, sensors: SensorValues) -> Step:
        """Admin override: go to ``target`` (logged in the ledger)."""
        self._begin(now)
        if target not in self.spec.states:
            states = ", ".join(self.spec.states)
            why = f"unknown state '{target}'; states: {states}"
            return Step(Refused("set_state", self.state, "invalid", why))
        refused = self._override_refused(target)
        if refused is not None:
            return Step(refused)
        source = self.machine.state
        result = self.machine.force(target, now)
        self._overridden(target)
        self._entry("override", detail=f"set_state {source} -> {target}")
        self._after_transition(result.transitions[0])
        return self._finish(result.then(self._automatic(now, sensors)))

    # --- hooks of the vending model --------------------------------------------------------

    def _check(self, event: str, data: dict[str, object]) -> Refused | None:
        """A refusal of the event's data before the table is asked; ``None``: go on."""
        del event, data
        return None

    def _effects(self, result: Accepted, data: dict[str, object]) -> None:
        """What an accepted event (one transition) does besides moving the machine."""
        del data
        self._after_transition(result.transitions[0])

    def _update_condition(self, sensors: SensorValues) -> bool:
        """Whether a condition kept in the state changed with ``sensors`` (none here)."""
        del sensors
        return False

    def _override_refused(self, target: str) -> Refused | None:
        """Why ``set_state`` to ``target`` must not happen now; ``None``: it may."""
        del target
        return None

    def _overridden(self, target: str) -> None:
        """What ``set_state`` to ``target`` does to the state besides moving the machine."""
        del target

    def _entered(self, transition: Transition) -> None:
        """What entering ``transition.target`` does to the state besides moving the machine."""
        del transition

    # --- bookkeeping -------------------------------------------------------------------------

    def _after_transition(self, transition: Transition) -> None:
        self._entry(
            "transition",
            detail=f"{transition.source} -> {transition.target} on {transition.event}",
        )
        if not transition.internal:
            self._entered(transition)

    def _automatic(self, now: float, sensors: SensorValues) -> Accepted | None:
        result: Accepted | None = None
        for _ in range(len(self.spec.states)):
            step = self.machine.automatic(now=now, sensors=sensors, variables=self.variables())
            if step is None:
                break
            self._after_transition(step.transitions[0])
            result = step if result is None else result.then(step)
        return result

    def _begin(self, now: float) -> None:
        self._now = now
        self._pending = []

    def _entry(self, kind: str, **fields: object) -> None:
        self.s.seq += 1
        self._pending.append(
            Entry(self.s.seq, round(self._now * 1000), kind, **fields)  # type: ignore[arg-type]
        )

    def _finish(self, result: Result) -> Step:
        actions = tuple(getattr(result, "actions", ()))
        entries = tuple(self._pending)
        self._pending = []
        return Step(result, entries, self.snapshot(), actions)


class PlainMachine(RecordedMachine[MachineState]):
    """A machine without a vending block: the table, its timeouts, guards and actions."""

    state_type = MachineState
