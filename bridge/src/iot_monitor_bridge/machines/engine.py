"""The state machine engine: a table built from a ``machines:`` entry, run by pure calls.

``Machine.fire(event, data, now, sensors)`` either takes a transition and returns
``Accepted`` (the transitions taken and the actions for the runtime to carry out, in order)
or returns ``Refused`` with a message that names the state and the events it allows.
Nothing here does I/O or keeps time: ``now`` is passed in (seconds, from the runtime's
clock), timeouts are read with ``due()`` and fired by ``tick(now)``, and guards read the
sensor values handed in. A machine is restored by constructing it with ``state=`` and
``entered_at=`` (like python-statemachine's ``start_value``).

Why a table of our own and not python-statemachine: see the package docstring
(``iot_monitor_bridge.machines``) and docs/machines.md.

Semantics, in the order they apply:

- The transitions for an event are tried in the order of the file; the first whose source
  matches the current state and whose guard is true is taken. An event no transition takes
  in the current state is refused (``not_allowed``); one whose guards are all false is
  refused too (``guard_failed``), naming the guard and the values it read.
- An external transition runs the old state's ``exit`` actions, the transition's ``do``,
  then the new state's ``entry`` actions, and restarts the new state's timeout (also when
  the target is the source). A transition without ``to`` is internal: only its ``do``.
- Services: a service with ``on`` events acts when one of them is accepted and the machine
  is then in one of its states; a service without ``on`` acts when the machine enters one
  of its states. Acting is one ``RunService`` action (its actions, then the event to fire
  when they succeed or fail). A service whose event came in another state is listed in
  ``Accepted.skipped``: it acts only in its states.
- Automatic transitions (``when``) are tried after every accepted transition and on
  ``observe``; they chain (at most one per declared state, so a cycle cannot spin).
- A state's timeout is armed when the state is entered and fires once, by ``tick``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

import msgspec

from iot_monitor_bridge.config import ActionConfig, MachineConfig, ServiceConfig, TimeoutConfig
from iot_monitor_bridge.machines.expr import Guard, SensorValues

EventData: TypeAlias = Mapping[str, object]
Variables: TypeAlias = Mapping[str, object]
_NO_DATA: Final[EventData] = {}
_NO_VARIABLES: Final[Variables] = {}


# ----- what the runtime carries out ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriveOutput:
    """Drive ``device``/``output`` on or off; with ``seconds``, back again after that long."""

    device: str
    output: str
    on: bool
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class FireEvent:
    """Fire ``event`` at the machine once the actions before it are done."""

    event: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DispenseProduct:
    """``dispense: true`` as the engine knows it.

    The vending model turns it into ``vending.Dispense`` with the order, slot and output.
    """

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class RunService:
    """A service acting.

    Carry out ``actions`` in order, then fire ``then`` (all succeeded) or ``otherwise`` (one
    failed; the rest are skipped).
    """

    service: str
    actions: tuple[object, ...]
    then: str | None
    otherwise: str | None


@dataclass(frozen=True, slots=True)
class Transition:
    """One transition taken: ``trigger`` is the event, ``when`` or ``timeout``."""

    event: str
    source: str
    target: str
    internal: bool
    trigger: Literal["event", "when", "timeout", "set_state", "start"]
    at: float


@dataclass(frozen=True, slots=True)
class Accepted:
    """The event was taken: the transitions in order and the actions to carry out."""

    event: str
    state: str
    transitions: tuple[Transition, ...] = ()
    actions: tuple[object, ...] = ()
    skipped: tuple[str, ...] = ()
    """Services whose event came while the machine was not in one of their states."""
    ok: Literal[True] = True

    def then(self, other: Accepted | None) -> Accepted:
        """The result followed by ``other`` (automatic transitions after an event)."""
        if other is None:
            return self
        return Accepted(
            self.event,
            other.state,
            self.transitions + other.transitions,
            self.actions + other.actions,
            self.skipped + other.skipped,
        )


@dataclass(frozen=True, slots=True)
class Refused:
    """The event was not taken; nothing changed.

    ``code`` is one of ``unknown_event``, ``not_allowed``, ``guard_failed`` or (vending)
    ``invalid``, ``unknown_slot``, ``out_of_stock``, ``insufficient_credit``,
    ``nothing_selected``, ``order_in_flight``, ``no_order``.
    """

    event: str
    state: str
    code: str
    message: str
    allowed: tuple[str, ...] = ()
    ok: Literal[False] = False


Result: TypeAlias = Accepted | Refused


# ----- the table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    index: int
    event: str | None
    sources: frozenset[str] | None  # None: every state
    target: str | None
    guard: Guard | None
    when: Guard | None
    actions: tuple[ActionConfig, ...]

    def leaves(self, state: str) -> bool:
        return self.sources is None or state in self.sources


def actions_of(configs: Iterable[ActionConfig]) -> tuple[object, ...]:
    """The configured actions as what the runtime carries out."""
    actions: list[object] = []
    for action in configs:
        if action.output is not None:
            device, _, output = action.output.partition("/")
            actions.append(DriveOutput(device, output, action.on, action.for_))
        elif action.fire is not None:
            actions.append(FireEvent(action.fire, dict(action.data)))
        else:
            actions.append(DispenseProduct(action.for_))
    return tuple(actions)


class MachineSpec:
    """A ``MachineConfig`` compiled for running: transitions by event, guards parsed.

    The configuration must have passed ``check-config`` (``config.machine_problems``): this
    does not check again that states and events exist.
    """

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.id = config.id
        self.states: tuple[str, ...] = tuple(config.states)
        self.initial = config.initial
        self.by_event: dict[str, list[_Row]] = {}
        self.automatic: list[_Row] = []
        for index, t in enumerate(config.transitions):
            row = _Row(
                index,
                t.event,
                None if t.sources == "*" else frozenset(t.from_states),
                t.to,
                Guard(t.guard) if t.guard is not None else None,
                Guard(t.when) if t.when is not None else None,
                tuple(t.do),
            )
            if t.event is None:
                self.automatic.append(row)
            else:
                self.by_event.setdefault(t.event, []).append(row)
        self.entry = {name: actions_of(config.state(name).entry) for name in self.states}
        self.exit = {name: actions_of(config.state(name).exit) for name in self.states}
        self.timeouts: dict[str, TimeoutConfig] = {
            name: timeout
            for name in self.states
            if (timeout := config.state(name).timeout) is not None
        }
        self.services: tuple[ServiceConfig, ...] = tuple(config.services)

    def allowed(self, state: str) -> tuple[str, ...]:
        """The events some transition takes in ``state`` (guards aside), sorted."""
        return tuple(
            sorted(e for e, rows in self.by_event.items() if any(r.leaves(state) for r in rows))
        )


# ----- the running machine ---------------------------------------------------------------


class MachineSnapshot(msgspec.Struct, frozen=True):
    """What a restart needs of a machine: stored by the runtime (``runtime/ledger.py``)."""

    state: str
    entered_at: float
    timer_armed: bool = True


class Machine:
    """One running machine: its state, when it was entered, whether its timeout is armed."""

    def __init__(
        self,
        spec: MachineSpec,
        *,
        state: str | None = None,
        entered_at: float = 0.0,
        timer_armed: bool = True,
    ) -> None:
        if state is not None and state not in spec.states:
            raise ValueError(f"'{state}' is not a state of machine '{spec.id}'")
        self.spec = spec
        self.state = state if state is not None else spec.initial
        self.entered_at = entered_at
        self.timer_armed = timer_armed

    @classmethod
    def restored(cls, spec: MachineSpec, snapshot: MachineSnapshot) -> Machine:
        """The machine as ``snapshot`` left it (``ValueError`` if its state is gone)."""
        return cls(
            spec,
            state=snapshot.state,
            entered_at=snapshot.entered_at,
            timer_armed=snapshot.timer_armed,
        )

    def snapshot(self) -> MachineSnapshot:
        """The state, when it was entered and whether its timeout is armed."""
        return MachineSnapshot(self.state, self.entered_at, self.timer_armed)

    def start(self, now: float) -> Accepted:
        """The first start ever: enter the initial state (its entry actions, its timeout)."""
        self.entered_at = now
        self.timer_armed = True
        transition = Transition("start", self.state, self.state, False, "start", now)
        return Accepted("start", self.state, (transition,), self.spec.entry[self.state])

    def allowed(self) -> tuple[str, ...]:
        """The events the current state allows."""
        return self.spec.allowed(self.state)

    # --- events ------------------------------------------------------------------------

    def fire(
        self,
        event: str,
        data: EventData = _NO_DATA,
        *,
        now: float,
        sensors: SensorValues,
        variables: Variables = _NO_VARIABLES,
    ) -> Result:
        """Take ``event``, then every automatic transition that holds."""
        result = self.step(event, data, now=now, sensors=sensors, variables=variables)
        if not result.ok:
            return result
        return result.then(self.observe(now=now, sensors=sensors, variables=variables))

    def step(
        self,
        event: str,
        data: EventData = _NO_DATA,
        *,
        now: float,
        sensors: SensorValues,
        variables: Variables = _NO_VARIABLES,
        trigger: Literal["event", "timeout"] = "event",
    ) -> Result:
        """Take ``event`` alone (no automatic transitions after it)."""
        del data  # the table does not read it; guards read the variables made from it
        rows = self.spec.by_event.get(event)
        if rows is None:
            known = ", ".join(sorted(self.spec.by_event))
            return Refused(
                event, self.state, "unknown_event", f"unknown event '{event}'; events: {known}"
            )
        candidates = [row for row in rows if row.leaves(self.state)]
        if not candidates:
            allowed = self.allowed()
            return Refused(
                event,
                self.state,
                "not_allowed",
                f"'{event}' is not allowed in the state '{self.state}'; "
                f"allowed there: {', '.join(allowed) or 'nothing'}",
                allowed,
            )
        for row in candidates:
            if row.guard is None or row.guard(sensors, variables):
                return self._take(row, event, trigger, now)
        failed = [row.guard for row in candidates if row.guard is not None]
        reasons = "; ".join(f"{g.text} ({g.inputs(sensors, variables)})" for g in failed)
        return Refused(
            event,
            self.state,
            "guard_failed",
            f"'{event}' refused in the state '{self.state}': not true: {reasons}",
            self.allowed(),
        )

    def observe(
        self, *, now: float, sensors: SensorValues, variables: Variables = _NO_VARIABLES
    ) -> Accepted | None:
        """Every automatic transition that holds now, chained; ``None`` if none does."""
        result: Accepted | None = None
        for _ in range(len(self.spec.states)):
            step = self.automatic(now=now, sensors=sensors, variables=variables)
            if step is None:
                break
            result = step if result is None else result.then(step)
        return result

    def automatic(
        self, *, now: float, sensors: SensorValues, variables: Variables = _NO_VARIABLES
    ) -> Accepted | None:
        """The first automatic transition from the current state that holds, taken."""
        for row in self.spec.automatic:
            if row.leaves(self.state) and row.when is not None and row.when(sensors, variables):
                if row.target is None or row.target == self.state:
                    continue  # staying put is not a transition: it would repeat for ever
                return self._take(row, "when", "when", now)
        return None

    def _take(self, row: _Row, event: str, trigger: str, now: float) -> Accepted:
        source = self.state
        if row.target is None:
            transition = Transition(event, source, source, True, trigger, now)  # type: ignore[arg-type]
            actions = actions_of(row.actions)
        else:
            transition = Transition(event, source, row.target, False, trigger, now)  # type: ignore[arg-type]
            actions = self.spec.exit[source] + actions_of(row.actions) + self.spec.entry[row.target]
            self.state = row.target
            self.entered_at = now
            self.timer_armed = True
        services, skipped = self._services(event if trigger != "when" else None, transition)
        return Accepted(event, self.state, (transition,), actions + services, skipped)

    def _services(
        self, event: str | None, transition: Transition
    ) -> tuple[tuple[object, ...], tuple[str, ...]]:
        acting: list[object] = []
        skipped: list[str] = []
        for service in self.spec.services:
            if service.on:
                triggered = event is not None and event in service.on
            else:
                triggered = not transition.internal and transition.target in service.states
            if not triggered:
                continue
            if self.state in service.states:
                acting.append(self.service_run(service))
            else:
                skipped.append(service.id)
        return tuple(acting), tuple(skipped)

    @staticmethod
    def service_run(service: ServiceConfig) -> RunService:
        """``service`` acting, as one action."""
        return RunService(service.id, actions_of(service.do), service.then, service.else_)

    def resume(self, now: float) -> Accepted:
        """After a restart: the services of the current state act again.

        Their events came before the restart. The caller decides whether that is safe (the
        vending model does, from the order's mark).
        """
        del now
        runs = tuple(self.service_run(s) for s in self.spec.services if self.state in s.states)
        return Accepted("resume", self.state, (), runs)

    def force(self, target: str, now: float) -> Accepted:
        """An admin override: go to ``target`` whatever the table says (exit and entry run)."""
        if target not in self.spec.states:
            raise ValueError(f"'{target}' is not a state of machine '{self.spec.id}'")
        source = self.state
        actions = self.spec.exit[source] + self.spec.entry[target]
        self.state = target
        self.entered_at = now
        self.timer_armed = True
        transition = Transition("set_state", source, target, False, "set_state", now)
        return Accepted("set_state", target, (transition,), actions)

    # --- time --------------------------------------------------------------------------

    def due(self) -> float | None:
        """When the current state's timeout fires (same clock as ``now``), or ``None``."""
        timeout = self.spec.timeouts.get(self.state)
        if timeout is None or not self.timer_armed:
            return None
        return self.entered_at + timeout.after

    def tick(
        self,
        *,
        now: float,
        sensors: SensorValues,
        variables: Variables = _NO_VARIABLES,
        automatic: bool = True,
    ) -> Result | None:
        """Fire the current state's timeout if it is due (once per entry); else ``None``.

        With ``automatic=False`` the automatic transitions after it are left to the caller.
        """
        deadline = self.due()
        if deadline is None or now < deadline:
            return None
        timeout = self.spec.timeouts[self.state]
        self.timer_armed = False
        if timeout.event is not None:
            result = self.step(
                timeout.event, now=now, sensors=sensors, variables=variables, trigger="timeout"
            )
        else:
            row = _Row(-1, "timeout", None, timeout.to, None, None, ())
            result = self._take(row, "timeout", "timeout", now)
        if not result.ok or not automatic:
            return result
        return result.then(self.observe(now=now, sensors=sensors, variables=variables))
