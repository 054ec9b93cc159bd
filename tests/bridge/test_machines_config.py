"""``machines:`` in the bridge config: every problem named by its key path, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_monitor_bridge.config import BridgeConfig, ConfigError, load_yaml, parse_config, validate
from iot_monitor_bridge.machines.engine import Machine, MachineSpec
from iot_monitor_bridge.machines.vending import VendingMachine
from tests.bridge.test_config import _TREES, _check, _paths, _replaced
from tests.support.cli import run_cli

EXAMPLE_PATH = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
EXAMPLE_TEXT = EXAMPLE_PATH.read_text(encoding="utf-8")
EXAMPLE = load_yaml(EXAMPLE_TEXT)


def _problems(old: str, new: str, text: str = EXAMPLE_TEXT) -> list[str]:
    assert old in text, old
    with pytest.raises(ConfigError) as raised:
        parse_config(text.replace(old, new, 1))
    return raised.value.problems


def test_the_example_is_valid_and_check_config_accepts_it() -> None:
    config = parse_config(EXAMPLE_TEXT)
    (machine,) = config.machines
    assert machine.vending is not None
    assert [p.slot for p in machine.vending.products] == ["a", "b", "c"]
    result = run_cli("check-config", EXAMPLE_PATH, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{EXAMPLE_PATH}: ok" in result.stdout


def test_check_config_exits_2_and_names_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXAMPLE_TEXT.replace("to: awaiting_payment, guard", "to: waiting, guard").replace(
            "out_of_service: fridge.temperature > 8", "out_of_service: fridge.temperature >"
        ),
        encoding="utf-8",
    )
    result = run_cli("check-config", bad, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(
        line.startswith("machines[0].transitions[2].to: unknown state 'waiting'") for line in lines
    )
    assert any(
        line.startswith("machines[0].vending.out_of_service: position 20: ") for line in lines
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "initial: idle",
            "initial: ready",
            "machines[0].initial: unknown state 'ready'; states: idle, ",
        ),
        (
            "{event: timeout, from: awaiting_payment, to: idle}",
            "{event: timeout, from: [awaiting_payment, paying], to: idle}",
            "machines[0].transitions[5].from[1]: unknown state 'paying'",
        ),
        (
            "{event: dispensed, from: dispensing, to: idle}",
            "{event: dispensed, from: dispensing, to: done}",
            "machines[0].transitions[6].to: unknown state 'done'",
        ),
        (
            "timeout: {after: 60s, event: timeout}",
            "timeout: {after: 60s, to: sleeping}",
            "machines[0].states.awaiting_payment.timeout.to: unknown state 'sleeping'",
        ),
        (
            "timeout: {after: 60s, event: timeout}",
            "timeout: {after: 60s, event: dispensed}",
            "machines[0].states.awaiting_payment.timeout.event: no transition takes the event "
            "'dispensed' "
            "in the state 'awaiting_payment'",
        ),
        (
            "states: [dispensing]",
            "states: [dispensing, vending]",
            "machines[0].services[0].states[1]: unknown state 'vending'",
        ),
        (
            "{output: fridge/service_lamp, on: true}",
            "{output: fridge/fan, on: true}",
            "machines[0].states.out_of_service.entry[0].output: unknown output 'fridge/fan'; "
            "outputs: fridge/service_lamp, vending/busy_lamp",
        ),
        (
            "output: vending/dispense_c}",
            "output: vending/dispense_d}",
            "machines[0].vending.products[2].output: unknown output 'vending/dispense_d'",
        ),
        (
            "fridge.temperature > 8",
            "fridge.temp > 8",
            "machines[0].vending.out_of_service: unknown sensor 'fridge.temp'; device 'fridge' "
            "has: service_lamp, temperature",
        ),
        (
            "fridge.temperature < 7",
            "kitchen.temperature < 7",
            "machines[0].vending.back_in_service: unknown sensor 'kitchen.temperature'; there is "
            "no device 'kitchen' with sensors",
        ),
        (
            'guard: "credit >= price"',
            'guard: "credit >= prize"',
            "machines[0].transitions[3].guard: unknown name 'prize'; variables: credit, price, "
            "stock, stock_total, out_of_service",
        ),
        (
            'guard: "credit >= price"',
            'guard: "credit >= price and"',
            "machines[0].transitions[3].guard: position 19: expected a number, a string, true, "
            "false, a name or '(', found the end in 'credit >= price and'",
        ),
        (
            'guard: "credit >= price"',
            'guard: "vending.coin > 0"',
            "machines[0].transitions[3].guard: '>' compares numbers; vending.coin is a binary "
            "value",
        ),
        (
            'guard: "credit >= price"',
            "guard: \"fridge.temperature == 'cold'\"",
            "machines[0].transitions[3].guard: fridge.temperature is a numeric value; it cannot "
            'equal "cold"',
        ),
        (
            "out_of_service: fridge.temperature > 8",
            "out_of_service: credit > 8",
            "machines[0].vending.out_of_service: unknown name 'credit'; sensors are "
            "<device>.<sensor>",
        ),
        (
            "{input: vending/pay_button, edge: falling, event: pay}",
            "{input: fridge/temperature, edge: falling, event: pay}",
            "machines[0].inputs[3].edge: 'fridge/temperature' is not a gpio_input sensor",
        ),
        (
            "{input: vending/pay_button, edge: falling, event: pay}",
            "{input: vending/pay_button, equals: 1, event: pay}",
            "machines[0].inputs[3].equals: 'vending/pay_button' is a gpio_input: it fires on edge",
        ),
        (
            "{input: vending/pay_button, edge: falling, event: pay}",
            "{input: fridge/temperature, value_as: slot, event: select, data: {slot: a}}",
            "machines[0].inputs[3].value_as: 'slot' is in data already",
        ),
        (
            "coin: {input: vending/coin,",
            "coin: {input: vending/coins,",
            "machines[0].vending.coin.input: unknown sensor 'vending/coins'",
        ),
        (
            "event: select, data: {slot: c}}",
            "event: select, data: {slot: d}}",
            "machines[0].inputs[2].data.slot: unknown slot 'd'; slots: a, b, c",
        ),
        (
            "event: select, data: {slot: c}}",
            "event: select}",
            "machines[0].inputs[2].data: a select input names its product: data: {slot: ...}",
        ),
        (
            "kiosk: [select, pay, cancel]",
            "kiosk: [select, pay, cancel, refund]",
            "machines[0].kiosk[3]: no transition takes the event 'refund'",
        ),
        (
            "then: dispensed",
            "then: done",
            "machines[0].services[0].then: no transition takes the event 'done'",
        ),
        (
            "entry: [{output: vending/busy_lamp, on: true}]",
            "entry: [{output: vending/busy_lamp, on: true}, {fire: beep}]",
            "machines[0].states.dispensing.entry[1].fire: no transition takes the event 'beep'",
        ),
        (
            "commands: [credit, select, pay, cancel, restock, set_price, repaired, settle]",
            "commands: [credit, select, pay, cancel, restock, set_price, settle]",
            "machines[0].transitions[12].event: nothing fires 'repaired': no input, command, "
            "kiosk button, timeout, action or service",
        ),
        (
            '{event: coin, from: "*"}',
            "{event: coin, from: [idle, awaiting_payment]}",
            "machines[0].transitions: a vending machine takes 'coin' in every state, without a "
            "guard (a pulse is money already in the box); not in: dispensing, out_of_stock, "
            "out_of_service, needs_attention",
        ),
        (
            "{event: pay, from: awaiting_payment, to: dispensing",
            "{event: pay, from: awaiting_payment, to: idle",
            "machines[0].transitions[3].to: 'pay' leads to 'dispensing'",
        ),
        (
            "{event: dispense_failed, from: dispensing, to: out_of_service}",
            "{event: dispense_failed, from: dispensing, to: out_of_service}\n"
            "      - {event: cancel, from: dispensing, to: idle}",
            "machines[0].transitions[8].from: 'dispensing' is left only on dispensed or "
            "dispense_failed, not on 'cancel' (an order is in flight there)",
        ),
        (
            "{event: settle, from: needs_attention, to: idle}",
            "{event: settle, from: [needs_attention, idle], to: idle}",
            "machines[0].transitions[8].from: 'settle' is taken only from 'needs_attention'",
        ),
        (
            "{event: settle, from: needs_attention, to: idle}",
            "{event: cancel, from: needs_attention, to: idle}",
            "machines[0].transitions: a vending machine needs a transition on 'settle' from "
            "'needs_attention'",
        ),
        (
            "{event: dispensed, from: dispensing, to: idle}",
            "{event: cancel, from: idle, to: idle}",
            "machines[0].transitions: a vending machine needs a transition on 'dispensed' from "
            "'dispensing'",
        ),
        (
            "      needs_attention:                 # a restart",
            "      broken:                 # a restart",
            "machines[0].states: a vending machine needs the states needs_attention",
        ),
        (
            "{slot: c, name: Kopi susu",
            "{slot: a, name: Kopi susu",
            "machines[0].vending.products: duplicate slot 'a'",
        ),
        (
            "{output: vending/busy_lamp, on: true}",
            "{output: vending/busy_lamp, fire: dispensed}",
            "machines[0].states.dispensing.entry[0]: an action is exactly one of output, fire or "
            "dispense",
        ),
        (
            "{when: stock_total == 0, from: idle, to: out_of_stock}",
            "{when: stock_total == 0, event: empty, from: idle, to: out_of_stock}",
            "machines[0].transitions[16]: a transition has either event or when",
        ),
        (
            "{when: stock_total == 0, from: idle, to: out_of_stock}",
            "{when: stock_total == 0, from: idle}",
            "machines[0].transitions[16].to: an automatic transition (when) goes to a state",
        ),
        (
            "timeout: {after: 60s, event: timeout}",
            "timeout: {after: 0s, event: timeout}",
            "machines[0].states.awaiting_payment.timeout.after: expected a duration greater than 0",
        ),
        (
            "price: 8000,",
            "price: 0,",
            "machines[0].vending.products[2].price: expected `int` >= 1",
        ),
    ],
)
def test_each_problem_is_named_by_its_key_path(old: str, new: str, problem: str) -> None:
    problems = _problems(old, new)
    assert any(line.startswith(problem) for line in problems), problems


def test_a_state_no_transition_reaches_is_unreachable() -> None:
    text = EXAMPLE_TEXT
    for line in (
        '      - {when: "not out_of_service and stock_total == 0", from: out_of_service, '
        "to: out_of_stock}\n",
        "      - {when: stock_total == 0, from: idle, to: out_of_stock}\n",
    ):
        assert line in text
        text = text.replace(line, "")
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert raised.value.problems == [
        "machines[0].states.out_of_stock: unreachable from the initial state 'idle'"
    ]


def test_every_problem_at_once() -> None:
    text = (
        EXAMPLE_TEXT.replace("initial: idle", "initial: ready")
        .replace("fridge.temperature > 8", "fridge.temp > 8")
        .replace("kiosk: [select, pay, cancel]", "kiosk: [select, pay, cancel, refund]")
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert [line.split(":")[0] for line in raised.value.problems] == [
        "machines[0].initial",
        "machines[0].kiosk[3]",
        "machines[0].vending.out_of_service",
    ]


def test_a_guard_on_an_enum_names_its_options_and_fleet_devices_are_known() -> None:
    base = """
devices:
  - {id: fleet, simulate: {count: 2}}
  - {id: relay, outputs: [{id: siren, type: gpio_output, pin: 5}]}
machines:
  - id: watch
    initial: calm
    states: {calm: , alarm: }
    transitions:
      - when: GUARD
        from: calm
        to: alarm
      - {event: reset, from: alarm, to: calm}
    commands: [reset]
"""
    ok = parse_config(
        base.replace("GUARD", 'fleet_2.status == "error" and fleet_1.temperature > 30')
    )
    assert ok.machines[0].transitions[0].when is not None
    for guard, problem in [
        ('fleet_1.status == "broken"', "fleet_1.status is one of ok, warn, error; never 'broken'"),
        ("fleet_3.status == 'ok'", "unknown sensor 'fleet_3.status'; there is no device 'fleet_3'"),
        ("fleet_1.location == 1", "fleet_1.location is a location value"),
        ("relay.siren == 1", "relay.siren is a binary value; it cannot equal 1"),
    ]:
        problems = _problems("GUARD", guard, base)
        assert any(problem in line for line in problems), (guard, problems)
        assert all(line.startswith("machines[0].transitions[0].when: ") for line in problems)


def test_dispense_needs_a_vending_block_and_machine_ids_are_unique() -> None:
    text = """
devices: [{id: d, outputs: [{id: o, type: gpio_output, pin: 5}]}]
machines:
  - id: m
    initial: a
    states: {a: {entry: [{dispense: true}]}}
    transitions: [{event: go, from: a}]
    commands: [go]
  - id: m
    initial: a
    states: {a: }
    transitions: [{event: go, from: a}]
    commands: [go]
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert raised.value.problems == [
        "machines[0].states.a.entry[0].dispense: only a machine with a vending block dispenses",
        "machines[1].id: duplicate machine id 'm'",
    ]


def test_yaml_on_is_a_key_not_a_boolean() -> None:
    config = parse_config(EXAMPLE_TEXT)
    machine = config.machines[0]
    assert machine.state("out_of_service").exit[0].on is False
    assert machine.services[0].on == ["pay"]
    assert parse_config("spool: {synchronous: off}").spool.synchronous == "off"  # values stay


def test_without_machines_nothing_changes() -> None:
    assert parse_config("devices: [{id: fleet, simulate: {}}]").machines == []


# ----- fuzzing: a mutated vending config is a config or named problems -----------------------

_WORDS = st.sampled_from(
    [
        *EXAMPLE["machines"][0]["states"],
        "pay",
        "coin",
        "select",
        "dispensed",
        "*",
        "nowhere",
        "vending/dispense_a",
        "vending/coin",
        "fridge/temperature",
        "fridge.temperature > 8",
        "fridge.temperature >",
        "credit >= price or",
        "not out_of_service",
        "stock > 'x'",
        "(",
    ]
)


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """The vending example with one value, at any depth, replaced by random data or by a
    word that means something in a machine (a state, an event, an output, an expression)."""
    path = draw(st.sampled_from(_paths(EXAMPLE)))
    return _replaced(EXAMPLE, path, draw(_WORDS | _TREES | st.lists(_WORDS, max_size=3)))


def _runs(config: BridgeConfig) -> None:
    """A config that passes check-config builds and takes every command in every state."""
    sensors = {("fridge", "temperature"): 5.0}
    for machine in config.machines:
        if machine.vending is None:
            Machine(MachineSpec(machine)).fire("x", now=0.0, sensors=sensors)
            continue
        vending, _ = VendingMachine.restore(machine, None, now=0.0, sensors=sensors)
        for event in [*machine.commands, *machine.kiosk, "coin"]:
            vending.fire(event, {"slot": "a", "amount": 1, "count": 1}, now=1.0, sensors=sensors)


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_a_mutated_vending_config_is_a_config_or_named_problems(data: Any) -> None:
    _check(data)
    try:
        config = validate(data, BridgeConfig)
    except ConfigError:
        return
    _runs(config)


def test_a_serial_sensors_derived_ids_are_the_sensors_a_guard_reads() -> None:
    text = """
devices:
  - id: air
    sensors:
      - {id: dust, type: serial, port: /dev/ttyUSB0, protocol: sds011}
      - {id: co2, type: serial, port: /dev/serial0, protocol: mhz19b}
      - id: climate
        type: serial
        port: /dev/ttyACM0
        protocol: json_lines
        fields: {temp: {}}
machines:
  - id: air
    initial: fine
    states: {fine: , stuffy: }
    transitions:
      - when: GUARD
        from: fine
        to: stuffy
      - {event: reset, from: stuffy, to: fine}
    commands: [reset]
"""
    parse_config(
        text.replace("GUARD", "air.dust_pm25 > 35 or air.co2 > 1200 or air.climate_temp > 30")
    )
    problems = _problems("GUARD", "air.dust > 35", text)
    assert problems == [
        "machines[0].transitions[0].when: unknown sensor 'air.dust'; device 'air' has: "
        "climate_temp, co2, dust_pm10, dust_pm25"
    ]
