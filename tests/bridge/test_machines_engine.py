"""The state machine engine: transitions, guards, services, timeouts on a fake clock; pure."""

from __future__ import annotations

from typing import Any

import pytest

from iot_monitor_bridge.config import ActionConfig, Seconds, parse_config
from iot_monitor_bridge.machines.engine import (
    Accepted,
    DispenseProduct,
    DriveOutput,
    FireEvent,
    Machine,
    MachineSnapshot,
    MachineSpec,
    Refused,
    RunService,
    actions_of,
)

DEVICES = """
devices:
  - id: boiler
    sensors:
      - {id: water_temp, type: ds18b20, address: 28-0000075a1b2c}
      - {id: door, type: gpio_input, pin: 17}
    outputs:
      - {id: fan, type: gpio_output, pin: 27}
      - {id: lamp, type: gpio_output, pin: 22}
"""

BOILER = (
    DEVICES
    + """
machines:
  - id: boiler
    initial: idle
    states:
      idle:
      heating:
        entry: [{output: boiler/fan, on: true}]
        exit: [{output: boiler/fan, on: false}]
        timeout: {after: 30s, event: too_long}
      cooling:
        entry: [{output: boiler/lamp, on: true, for: 2s}]
        timeout: {after: 10s, to: idle}
      alarm:
    transitions:
      - {event: start, from: idle, to: heating, guard: "boiler.water_temp < 60"}
      - {event: start, from: idle, to: alarm, guard: "boiler.water_temp >= 90"}
      - {event: stop, from: [heating, cooling], to: idle, do: [{fire: stopped}]}
      - {event: too_long, from: heating, to: cooling, guard: "not boiler.door"}
      - {event: poke, from: "*"}
      - {event: stopped, from: idle}
      - {event: reheat, from: heating, to: heating}
      - {when: "boiler.water_temp > 95", from: [idle, heating, cooling], to: alarm}
      - {event: reset, from: alarm, to: idle}
    services:
      - id: logger
        states: [heating]
        on: [start, poke]
        do: [{output: boiler/lamp, on: true}]
        then: stopped
      - id: entering
        states: [cooling]
        do: [{fire: stopped}]
    commands: [start, stop, poke, reset, reheat]
"""
)

WARM = {("boiler", "water_temp"): 40.0, ("boiler", "door"): False}


def _spec(text: str = BOILER) -> MachineSpec:
    return MachineSpec(parse_config(text).machines[0])


def _machine(**kwargs: Any) -> Machine:
    return Machine(_spec(), **kwargs)


def _fire(machine: Machine, event: str, now: float = 0.0, sensors: Any = None) -> Any:
    return machine.fire(event, now=now, sensors=WARM if sensors is None else sensors)


def test_the_first_transition_whose_guard_holds_is_taken() -> None:
    machine = _machine()
    result = _fire(machine, "start")
    assert isinstance(result, Accepted)
    assert machine.state == "heating"
    assert [(t.source, t.target, t.event) for t in result.transitions] == [
        ("idle", "heating", "start")
    ]
    hot = _machine()
    _fire(hot, "start", sensors={("boiler", "water_temp"): 92.0})
    assert hot.state == "alarm"


def test_a_guard_that_fails_refuses_and_names_itself_and_what_it_read() -> None:
    machine = _machine()
    result = _fire(machine, "start", sensors={("boiler", "water_temp"): 75.0})
    assert isinstance(result, Refused)
    assert result.code == "guard_failed"
    assert "boiler.water_temp < 60 (boiler.water_temp = 75.0)" in result.message
    assert "boiler.water_temp >= 90" in result.message
    assert machine.state == "idle"


def test_a_sensor_that_has_not_reported_fails_the_guard() -> None:
    result = _fire(_machine(), "start", sensors={})
    assert isinstance(result, Refused)
    assert "boiler.water_temp = unknown" in result.message


def test_an_event_the_state_does_not_allow_is_refused_naming_state_and_allowed_events() -> None:
    machine = _machine()
    result = _fire(machine, "stop")
    assert isinstance(result, Refused)
    assert result.code == "not_allowed"
    assert result.allowed == ("poke", "start", "stopped")
    assert result.message == (
        "'stop' is not allowed in the state 'idle'; allowed there: poke, start, stopped"
    )
    assert machine.state == "idle"


def test_an_unknown_event_is_refused() -> None:
    result = _fire(_machine(), "explode")
    assert isinstance(result, Refused)
    assert result.code == "unknown_event"
    assert "unknown event 'explode'" in result.message


def test_exit_then_transition_then_entry_actions_in_order() -> None:
    machine = _machine(state="heating")
    result = _fire(machine, "stop")
    assert isinstance(result, Accepted)
    assert result.actions == (
        DriveOutput("boiler", "fan", False),
        FireEvent("stopped", {}),
    )
    heating = _machine()
    started = _fire(heating, "start")
    assert started.actions[0] == DriveOutput("boiler", "fan", True)


def test_an_output_pulse_carries_its_duration() -> None:
    machine = _machine(state="heating")
    result = machine.fire("too_long", now=0, sensors=WARM)
    assert DriveOutput("boiler", "lamp", True, 2.0) in result.actions  # type: ignore[union-attr]


def test_from_star_matches_every_state_and_no_to_is_internal() -> None:
    for state in ("idle", "heating", "cooling", "alarm"):
        machine = _machine(state=state, entered_at=5.0)
        result = machine.fire("poke", now=9.0, sensors=WARM)
        assert isinstance(result, Accepted)
        assert machine.state == state
        assert result.transitions[0].internal
        assert machine.entered_at == 5.0  # an internal transition keeps the timer
        assert not any(isinstance(a, DriveOutput) and a.output == "fan" for a in result.actions)


def test_an_external_self_transition_exits_enters_and_restarts_the_timeout() -> None:
    machine = _machine(state="heating", entered_at=0.0)
    result = machine.fire("reheat", now=20.0, sensors=WARM)
    assert isinstance(result, Accepted)
    assert result.actions[:2] == (
        DriveOutput("boiler", "fan", False),
        DriveOutput("boiler", "fan", True),
    )
    assert machine.due() == 50.0


def test_a_service_acts_only_in_its_states() -> None:
    machine = _machine()
    result = _fire(machine, "start")
    assert isinstance(result, Accepted)
    run = result.actions[-1]
    assert run == RunService("logger", (DriveOutput("boiler", "lamp", True),), "stopped", None)
    idle = _machine()
    poked = _fire(idle, "poke")
    assert isinstance(poked, Accepted)
    assert not any(isinstance(a, RunService) for a in poked.actions)
    assert poked.skipped == ("logger",)


def test_a_service_without_events_acts_on_entering_its_states() -> None:
    machine = _machine(state="heating")
    result = machine.fire("too_long", now=0, sensors=WARM)
    assert isinstance(result, Accepted)
    assert RunService("entering", (FireEvent("stopped", {}),), None, None) in result.actions


def test_timeouts_on_a_fake_clock_fire_once_per_entry() -> None:
    machine = _machine()
    assert machine.due() is None
    _fire(machine, "start", now=100.0)
    assert machine.due() == 130.0
    assert machine.tick(now=129.9, sensors=WARM) is None
    result = machine.tick(now=130.0, sensors=WARM)
    assert isinstance(result, Accepted)
    assert result.transitions[0].trigger == "timeout"
    assert machine.state == "cooling"
    assert machine.due() == 140.0
    result = machine.tick(now=200.0, sensors=WARM)  # late: fires once, at once
    assert isinstance(result, Accepted)
    assert (result.transitions[0].event, machine.state) == ("timeout", "idle")
    assert machine.tick(now=300.0, sensors=WARM) is None


def test_a_timeout_event_refused_by_its_guard_is_spent() -> None:
    machine = _machine()
    _fire(machine, "start", now=0.0)
    door_open = {**WARM, ("boiler", "door"): True}
    result = machine.tick(now=30.0, sensors=door_open)
    assert isinstance(result, Refused)
    assert machine.state == "heating"
    assert machine.due() is None
    assert machine.tick(now=31.0, sensors=WARM) is None


def test_automatic_transitions_follow_an_event_and_sensor_changes() -> None:
    machine = _machine()
    _fire(machine, "start")
    result = machine.observe(now=1.0, sensors={("boiler", "water_temp"): 96.0})
    assert isinstance(result, Accepted)
    assert [t.trigger for t in result.transitions] == ["when"]
    assert machine.state == "alarm"
    assert machine.observe(now=2.0, sensors={("boiler", "water_temp"): 96.0}) is None


def test_automatic_transitions_cannot_spin() -> None:
    text = (
        DEVICES
        + """
machines:
  - id: ping
    initial: a
    states: {a: , b: }
    transitions:
      - {when: "boiler.door", from: a, to: b}
      - {when: "boiler.door", from: b, to: a}
      - {event: go, from: "*"}
    commands: [go]
"""
    )
    machine = Machine(_spec(text))
    result = machine.fire("go", now=0, sensors={("boiler", "door"): True})
    assert isinstance(result, Accepted)
    assert len(result.transitions) == 1 + 2  # at most one per declared state


def test_restore_like_start_value_and_snapshot() -> None:
    spec = _spec()
    machine = Machine(spec)
    machine.fire("start", now=10.0, sensors=WARM)
    snapshot = machine.snapshot()
    assert snapshot == MachineSnapshot("heating", 10.0, True)
    again = Machine.restored(spec, snapshot)
    assert (again.state, again.due()) == ("heating", 40.0)
    with pytest.raises(ValueError, match="'gone' is not a state"):
        Machine(spec, state="gone")


def test_a_first_start_runs_the_initial_entry_actions() -> None:
    machine = Machine(_spec(), state="heating")
    result = machine.start(now=3.0)
    assert result.actions == (DriveOutput("boiler", "fan", True),)
    assert machine.due() == 33.0


def test_force_is_an_override_with_exit_and_entry() -> None:
    machine = _machine(state="heating")
    result = machine.force("alarm", now=1.0)
    assert result.transitions[0].trigger == "set_state"
    assert result.actions == (DriveOutput("boiler", "fan", False),)
    assert machine.state == "alarm"
    with pytest.raises(ValueError, match="'nowhere' is not a state"):
        machine.force("nowhere", now=2.0)


def test_resume_reruns_the_services_of_the_current_state() -> None:
    machine = _machine(state="heating")
    result = machine.resume(now=0)
    assert [a.service for a in result.actions if isinstance(a, RunService)] == ["logger"]


def test_dispense_is_an_action_the_vending_model_resolves() -> None:
    action = ActionConfig(dispense=True, for_=Seconds(2))
    assert actions_of([action]) == (DispenseProduct(2.0),)
