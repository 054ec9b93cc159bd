"""The machines' runtime: the thin adapter between the pure machine models and the bridge.

Per machine of ``machines:`` a ``MachineRunner`` (the model: ``VendingMachine`` for one
with a ``vending`` block, else ``PlainMachine``):

- at start opens the ledger (``<state_dir>/ledger.db``), restores the machine, commits the
  step and carries out its actions (a first start's entry actions, a resumed dispense);
- takes events from ``gpio_input`` edges named in ``inputs`` and ``vending.coin`` (derived
  from the binary readings of that sensor), from the command channel (``fire``, ``restock``,
  ``set_price``, ``set_state``) and from its own actions; every step is committed to the
  ledger **before** its actions are carried out;
- feeds guards the latest value of every sensor (``observe`` on each reading);
- keeps one loop timer at ``due()`` and calls ``tick`` when it comes;
- carries out actions in order, one sequence at a time: outputs (pulses with ``for``),
  fired events, services (``then``/``else``), dispenses (``start_dispense`` committed before
  the output is driven);
- emits every transition as readings of its own device (``<machine>_machine``: ``state``
  and the ``transition`` event; a vending machine's ledger entries as the ``ledger`` event,
  ``credit``, ``stock_<slot>``, ``price_<slot>`` and the sales totals), so they reach Home
  Assistant through the spool and the stream in ``seq`` order, however long the broker was
  away.

It decides nothing: the model does (docs/machines.md, "What the runtime does next").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from iot_monitor_bridge.config import BridgeConfig, GpioInputConfig, MachineConfig
from iot_monitor_bridge.contract.description import SensorKind
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.machines import expr
from iot_monitor_bridge.machines.engine import DriveOutput, FireEvent, Refused, RunService
from iot_monitor_bridge.machines.recorded import (
    ENTRY_KINDS,
    Entry,
    MachineState,
    PlainMachine,
    RecordedMachine,
    Step,
)
from iot_monitor_bridge.machines.vending import Dispense, PayOut, VendingMachine
from iot_monitor_bridge.model import DeviceSpec, SensorSpec
from iot_monitor_bridge.runtime.ledger import Ledger
from iot_monitor_bridge.states import StateFilter

_LOGGER = logging.getLogger(__name__)

LEDGER_FILE: Final = "ledger.db"
STOP_WAIT_S: Final = 5.0
"""At shutdown, how long a running sequence of actions (a dispense pulse) may take to end."""
MAX_CHAIN: Final = 64
"""Fired events a single sequence of actions may chain (a misconfigured loop stops here)."""

Drive = Callable[[str, str, bool], None]
"""Drive ``device``/``output`` on or off; raises ``OSError``/``KeyError`` when it cannot."""
Emit = Callable[[Reading], None]
Commit = Callable[[], None]
"""Make the readings emitted so far durable (the spool's commit)."""


def _nothing_to_commit() -> None:
    """Readings that need no commit (a test's sink)."""


def guarded_sensors(config: MachineConfig) -> frozenset[tuple[str, str]]:
    """Return the ``(device, sensor)`` of every sensor a guard of ``config`` reads."""
    texts = [t.guard or t.when for t in config.transitions]
    if config.vending is not None:
        texts += [config.vending.out_of_service, config.vending.back_in_service]
    return frozenset(
        (str(leaf[1]), str(leaf[2]))
        for text in texts
        if text is not None
        for leaf in expr.names(expr.parse(text))
        if leaf[0] == "sensor"
    )


def machine_device_id(machine_id: str) -> str:
    """The id of the device a machine is announced as (``vending`` -> ``vending_machine``)."""
    return f"{machine_id}_machine"


TRANSITION_EVENTS: Final = ("start", "set_state", "timeout", "when")
"""What moves a machine besides its own events: its first start, an override, a timeout
with no event of its own, an automatic (``when``) transition."""
LEDGER_EVENTS: Final = tuple(kind for kind in ENTRY_KINDS if kind != "transition")
"""The ledger entries sent as ``ledger`` events (transitions are the ``transition`` event)."""


_STOCK: Final = (None, "measurement", None)


def transition_event_types(config: MachineConfig) -> tuple[str, ...]:
    """Every ``event_type`` the ``transition`` event can carry: what moved the machine."""
    events = {t.event for t in config.transitions if t.event is not None}
    return tuple(sorted(events | set(TRANSITION_EVENTS)))


def machine_device(config: MachineConfig) -> DeviceSpec:
    """The machine as a device: its state (an enum) and transitions (an event).

    A vending machine adds its ledger entries (an event), credit, stock and price per slot
    and the sales totals.
    """
    sensors = [
        SensorSpec(
            "state",
            "State",
            SensorKind.ENUM,
            device_class="enum",
            options=tuple(config.states),
            icon="mdi:state-machine",
        ),
        SensorSpec(
            "transition",
            "Transition",
            SensorKind.EVENT,
            options=transition_event_types(config),
            icon="mdi:swap-horizontal",
        ),
    ]
    if config.vending is not None:
        unit = config.vending.currency
        money = ("monetary", "total", unit)
        price = ("monetary", None, unit)
        numbers = [
            ("credit", "Credit", "mdi:cash", (None, None, unit)),
            ("sales", "Sales", "mdi:cash-register", money),
            ("cash_box", "Cash box", "mdi:safe", money),
            ("sold", "Products sold", "mdi:basket", (None, "total_increasing", None)),
            *(
                (f"stock_{p.slot}", f"Stock {p.slot} ({p.name})", "mdi:package-variant", _STOCK)
                for p in config.vending.products
            ),
            *(
                (f"price_{p.slot}", f"Price {p.slot} ({p.name})", "mdi:tag", price)
                for p in config.vending.products
            ),
        ]
        sensors.append(
            SensorSpec("ledger", "Ledger", SensorKind.EVENT, options=LEDGER_EVENTS, icon="mdi:book")
        )
        sensors.extend(
            SensorSpec(
                sensor_id,
                name,
                unit=number_unit,
                device_class=device_class,
                state_class=state_class,
                precision=0,
                icon=icon,
                statistics=False,  # bookkeeping: windows of it would say nothing
            )
            for sensor_id, name, icon, (device_class, state_class, number_unit) in numbers
        )
    return DeviceSpec(
        machine_device_id(config.id),
        config.display_name,
        MODEL,
        sensors=tuple(sensors),
    )


MODEL: Final = "iot-monitor state machine"
"""The model of a machine's device, which tells it from the sensors' devices."""


def machine_state_filters(devices: Iterable[DeviceSpec]) -> dict[tuple[str, str], StateFilter]:
    """Every change of a machine's numbers on its state topic: a coin or a sale is news.

    (Numbers default to one state per 10 s: right for a sampled sensor, not for stock.)
    """
    return {
        (device.id, sensor.id): StateFilter(throttle=0.0)
        for device in devices
        if device.model == MODEL
        for sensor in device.sensors
    }


@dataclass(frozen=True, slots=True)
class _Trigger:
    """What fires ``event``: a ``gpio_input``'s ``edge``, or another sensor's reading."""

    event: str
    data: dict[str, object]
    edge: str = "rising"
    equals: object = None
    """Another sensor's reading fires only with this value (``None``: every reading)."""
    value_as: str | None = None

    def data_for(
        self, has_edges: bool, edge: str | None, value: object
    ) -> dict[str, object] | None:
        """The event's data if this reading fires it, else ``None``."""
        if has_edges:
            return self.data if edge == self.edge else None
        if self.equals is not None and value != self.equals:
            return None
        return self.data | {self.value_as: value} if self.value_as is not None else self.data


class _EdgeInput:
    """A ``gpio_input``'s binary readings turned into pin edges (the first level is none)."""

    def __init__(self, cfg: GpioInputConfig) -> None:
        self._active_low = cfg.pull_up is True or (cfg.pull_up is None and not cfg.active_high)
        self._invert = cfg.invert
        self._high: bool | None = None

    def edge(self, value: object) -> str | None:
        """``rising``, ``falling`` or ``None`` for the reported level ``value``."""
        if not isinstance(value, bool):
            return None
        active = value != self._invert
        high = active != self._active_low
        before, self._high = self._high, high
        if before is None or before == high:
            return None
        return "rising" if high else "falling"


class MachineRunner:
    """One vending machine, run: ledger, timer, inputs, actions and readings."""

    def __init__(
        self,
        config: MachineConfig,
        *,
        ledger: Ledger,
        emit: Emit,
        drive: Drive,
        gpio_inputs: Mapping[tuple[str, str], GpioInputConfig],
        clock: Callable[[], float] = time.time,
        commit: Commit = _nothing_to_commit,
    ) -> None:
        self.config = config
        self.id = config.id
        self.device_id = machine_device_id(config.id)
        self._ledger = ledger
        self._emit = emit
        self._commit_readings = commit
        self._drive = drive
        self._clock = clock
        self._sensors: dict[tuple[str, str], object] = {}
        self._watched = guarded_sensors(config)
        """The sensors some guard reads: only their readings can move the machine."""
        self._edges: dict[tuple[str, str], _EdgeInput] = {}
        self._triggers: dict[tuple[str, str], list[_Trigger]] = {}
        vending = config.vending
        if vending is not None and vending.coin is not None:
            coin = _Trigger("coin", {}, edge=vending.coin.edge)
            self._trigger(vending.coin.input, coin, gpio_inputs)
        for item in config.inputs:
            trigger = _Trigger(
                item.event, dict(item.data), item.edge or "rising", item.equals, item.value_as
            )
            self._trigger(item.input, trigger, gpio_inputs)
        self.vm: RecordedMachine[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._published: dict[str, object] = {}
        self._watchers: list[Callable[[], None]] = []

    def _trigger(
        self,
        ref: str,
        trigger: _Trigger,
        gpio_inputs: Mapping[tuple[str, str], GpioInputConfig],
    ) -> None:
        device, _, sensor = ref.partition("/")
        key = (device, sensor)
        if key in gpio_inputs and key not in self._edges:
            self._edges[key] = _EdgeInput(gpio_inputs[key])
        self._triggers.setdefault(key, []).append(trigger)

    # ----- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Restore the machine, commit, publish its state and carry out resumed actions."""
        kind: type[RecordedMachine[Any]] = (
            VendingMachine if self.config.vending is not None else PlainMachine
        )
        saved: MachineState | None = self._ledger.load(self.id, kind.state_type)
        self.vm, step = kind.restore(self.config, saved, now=self._clock(), sensors=self._sensors)
        self._ledger.commit(self.id, step.entries, step.state)
        self._publish(step, everything=True)
        self._commit_readings()
        self._rearm()
        self._carry_out(step.actions)

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop the timer; let running actions finish for ``wait_s``, then cancel them.

        A dispense cut short stays marked: the next start stops in ``needs_attention``.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks and wait_s > 0:
            await asyncio.wait(list(self._tasks), timeout=wait_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no sequence of actions is running (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on the loop after every committed step; returns the unwatch."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    @property
    def machine(self) -> RecordedMachine[Any]:
        """The running model."""
        assert self.vm is not None, "the machine is not started"
        return self.vm

    @property
    def vending(self) -> VendingMachine | None:
        """The running model if it is a vending machine."""
        return self.vm if isinstance(self.vm, VendingMachine) else None

    # ----- events in ---------------------------------------------------------------------

    def fire(self, event: str, data: Mapping[str, object] | None = None) -> Step:
        """Fire ``event``: commit the step, publish it, then carry out its actions."""
        step = self._step(event, data)
        self._carry_out(step.actions)
        return step

    def set_state(self, target: str) -> Step:
        """Admin override (logged in the ledger by the model)."""
        step = self.machine.set_state(target, now=self._clock(), sensors=self._sensors)
        self._committed(step)
        self._carry_out(step.actions)
        return step

    def reading(self, reading: Reading) -> None:
        """A reading the publisher accepted: guard values, input edges, automatic moves."""
        if reading.device_id == self.device_id or self.vm is None:
            return
        key = (reading.device_id, reading.sensor_id)
        triggers = self._triggers.get(key)
        if triggers is None and key not in self._watched:
            return  # e.g. a fleet's readings: no guard reads them
        self._sensors[key] = reading.value
        edge_input = self._edges.get(key)
        edge = edge_input.edge(reading.value) if edge_input is not None else None
        fired = False
        for trigger in triggers or ():
            data = trigger.data_for(edge_input is not None, edge, reading.value)
            if data is None:
                continue
            fired = True
            step = self.fire(trigger.event, data)
            if isinstance(step.result, Refused):
                _LOGGER.info("machine %s: %s", self.id, step.result.message)
        if fired:
            return  # the fire looked at the sensors already
        step_or_none = self.machine.observe(now=self._clock(), sensors=self._sensors)
        if step_or_none is not None:
            self._committed(step_or_none)
            self._carry_out(step_or_none.actions)

    def _step(self, event: str, data: Mapping[str, object] | None) -> Step:
        step = self.machine.fire(event, data, now=self._clock(), sensors=self._sensors)
        self._committed(step)
        return step

    def _committed(self, step: Step) -> None:
        """Commit a step before anything is done about it, publish it, re-arm the timer."""
        self._ledger.commit(self.id, step.entries, step.state)
        if step.state is not None:
            self._publish(step)
            self._commit_readings()  # as durable as the ledger: no hole after a kill
        self._rearm()
        for callback in tuple(self._watchers):
            callback()

    # ----- time --------------------------------------------------------------------------

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.machine.due()
        if due is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, due - self._clock()), self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        step = self.machine.tick(now=self._clock(), sensors=self._sensors)
        if step is None:  # the clock is behind the loop's: try again
            self._rearm()
            return
        self._committed(step)
        self._carry_out(step.actions)

    # ----- actions -----------------------------------------------------------------------

    def _carry_out(self, actions: Iterable[object]) -> None:
        actions = tuple(actions)
        if not actions:
            return
        task = asyncio.get_running_loop().create_task(self._perform_in_turn(actions))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("machine %s: actions failed", self.id, exc_info=task.exception())

    async def _perform_in_turn(self, actions: tuple[object, ...]) -> None:
        async with self._lock:  # one sequence at a time, in the order the steps came
            await self._perform(actions, depth=0)

    async def _perform(self, actions: Iterable[object], *, depth: int) -> bool:
        """Carry out ``actions`` in order; ``False`` when one failed (the rest are skipped)."""
        for action in actions:
            if isinstance(action, DriveOutput):
                if not await self._output(action.device, action.output, action.on, action.seconds):
                    return False
            elif isinstance(action, FireEvent):
                await self._fire_inline(action.event, action.data, depth)
            elif isinstance(action, RunService):
                ok = await self._perform(action.actions, depth=depth + 1)
                follow = action.then if ok else action.otherwise
                if follow is not None:
                    await self._fire_inline(follow, self._order_data(), depth)
            elif isinstance(action, Dispense):
                if not await self._dispense(action):
                    return False
            elif isinstance(action, PayOut):
                _LOGGER.info(
                    "machine %s: pay out %d (%s%s)",
                    self.id,
                    action.amount,
                    action.reason,
                    f", order {action.order}" if action.order is not None else "",
                )
        return True

    def _order_data(self) -> dict[str, object]:
        order = self.vending.s.order if self.vending is not None else None
        return {"order": order.id} if order is not None else {}

    async def _fire_inline(self, event: str, data: Mapping[str, object], depth: int) -> None:
        if depth >= MAX_CHAIN:
            _LOGGER.error("machine %s: more than %d chained events; stopped", self.id, MAX_CHAIN)
            return
        step = self._step(event, data)
        if isinstance(step.result, Refused):
            _LOGGER.warning("machine %s: %s", self.id, step.result.message)
        await self._perform(step.actions, depth=depth + 1)

    async def _dispense(self, action: Dispense) -> bool:
        assert self.vending is not None, "only a vending machine dispenses"
        step = self.vending.start_dispense(action.order, now=self._clock())
        if isinstance(step.result, Refused):  # already marked or ended: never twice
            _LOGGER.warning("machine %s: %s", self.id, step.result.message)
            return True
        self._committed(step)  # the mark is on the card before the output moves
        return await self._output(action.device, action.output, True, action.seconds)

    async def _output(self, device: str, output: str, on: bool, seconds: float | None) -> bool:
        try:
            self._drive(device, output, on)
            if seconds is not None:
                await asyncio.sleep(seconds)
                self._drive(device, output, not on)
        except (OSError, KeyError) as err:
            _LOGGER.error("machine %s: output %s/%s failed: %s", self.id, device, output, err)
            return False
        return True

    # ----- readings out ------------------------------------------------------------------

    def _publish(self, step: Step, *, everything: bool = False) -> None:
        """The step's transitions (``state`` and ``transition``), ledger entries, then totals."""
        ts = round(self._clock() * 1000)
        moved = False
        for transition in getattr(step.result, "transitions", ()):
            if not transition.internal:
                moved = True
                at = round(transition.at * 1000)
                self._send("state", transition.target, at, force=True)
                event = {
                    "event_type": transition.event,
                    "from": transition.source,
                    "to": transition.target,
                }
                self._send("transition", event, at, force=True)
        for entry in step.entries:
            if entry.kind != "transition":
                self._send("ledger", _ledger_event(entry), entry.ts, force=True)
        self._send("state", self.machine.state, ts, force=everything and not moved)
        vending = self.vending
        if vending is None:
            return
        s = vending.s
        self._send("credit", s.credit, ts, force=everything)
        self._send("sales", s.sales, ts, force=everything)
        self._send("cash_box", s.inserted - s.change - s.refunds, ts, force=everything)
        self._send("sold", s.sold, ts, force=everything)
        for slot in vending.products:
            self._send(f"stock_{slot}", s.stock.get(slot, 0), ts, force=everything)
            self._send(f"price_{slot}", s.prices.get(slot, 0), ts, force=everything)

    def _send(self, sensor: str, value: object, ts_ms: int, *, force: bool) -> None:
        if not force and self._published.get(sensor, _MISSING) == value:
            return
        self._published[sensor] = value
        self._emit(Reading(self.device_id, sensor, value, max(ts_ms, 0)))


_MISSING: Final = object()


def _ledger_event(entry: Entry) -> dict[str, object]:
    """A ledger entry as the ``ledger`` event's payload: its kind and the fields it has."""
    event: dict[str, object] = {"event_type": entry.kind, "seq": entry.seq}
    fields = {"amount": entry.amount, "slot": entry.slot, "order": entry.order}
    fields |= {"count": entry.count, "detail": entry.detail}
    event |= {key: value for key, value in fields.items() if value not in (None, 0, "")}
    return event


def build_runners(
    config: BridgeConfig,
    *,
    emit: Emit,
    drive: Drive,
    ledger_path: Path | None = None,
    clock: Callable[[], float] = time.time,
    commit: Commit = _nothing_to_commit,
) -> tuple[Ledger | None, list[MachineRunner]]:
    """A runner per machine of ``config``, sharing one ledger file."""
    if not config.machines:
        return None, []
    gpio_inputs = {
        (device.id, sensor.id): sensor
        for device in config.devices
        for sensor in device.sensors
        if isinstance(sensor, GpioInputConfig)
    }
    ledger = Ledger(ledger_path or config.state_dir / LEDGER_FILE)
    runners = [
        MachineRunner(
            m,
            ledger=ledger,
            emit=emit,
            drive=drive,
            gpio_inputs=gpio_inputs,
            clock=clock,
            commit=commit,
        )
        for m in config.machines
    ]
    return ledger, runners
