"""A machine without a vending block: the pure ``PlainMachine`` and its runtime.

The boiler of docs/machines.md: a button starts heating if the water is cool, the fan runs
while heating, the service pulses a lamp, an automatic transition stops it when the water is
too hot, a timeout ends it. Run by the real runtime on gpiozero's mock pins, a real spool and
ledger, the broker played by ``FakeLink``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from iot_monitor_bridge.config import BridgeConfig, parse_config
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.drivers.base import now_ms
from iot_monitor_bridge.machines.engine import DriveOutput, Refused, RunService
from iot_monitor_bridge.machines.recorded import MachineState, PlainMachine
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.ledger import Ledger
from iot_monitor_bridge.runtime.machines import build_runners, machine_device
from iot_monitor_bridge.runtime.publisher import Publisher
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.fake_link import FakeLink, ManualClockLoop, advance, run, settle

BUTTON_PIN, FAN_PIN, LAMP_PIN = 4, 5, 6
BOILER = """
bridge: {{id: lab-pi}}
mqtt: {{brokers: [{{host: 127.0.0.1}}]}}
state_dir: {state_dir}
devices:
  - id: boiler
    name: Boiler
    sensors:
      - {{id: water_temp, type: ds18b20, address: 28-0000075a1b2c}}
      - {{id: button, type: gpio_input, pin: 4}}
    outputs:
      - {{id: fan, type: gpio_output, pin: 5}}
      - {{id: lamp, type: gpio_output, pin: 6}}
machines:
  - id: boiler
    initial: idle
    states:
      idle:
      heating:
        entry: [{{output: boiler/fan, on: true}}]
        exit: [{{output: boiler/fan, on: false}}]
        timeout: {{after: 30m, to: idle}}
    transitions:
      - {{event: start, from: idle, to: heating, guard: "boiler.water_temp < 60"}}
      - {{event: stop, from: heating, to: idle}}
      - {{event: ping, from: "*"}}
      - {{when: "boiler.water_temp > 95", from: heating, to: idle}}
    services:
      - id: logger
        states: [heating]
        on: [start]
        do: [{{output: boiler/lamp, on: true, for: 2s}}]
    inputs:
      - {{input: boiler/button, edge: falling, event: start}}
    commands: [start, stop, ping]
"""
WATER = ("boiler", "water_temp")


def _config(tmp_path: Path) -> BridgeConfig:
    return parse_config(BOILER.format(state_dir=tmp_path))


# ----- the pure model --------------------------------------------------------------------------


def test_a_plain_machine_steps_records_and_restores(tmp_path: Path) -> None:
    (config,) = _config(tmp_path).machines
    machine, step = PlainMachine.restore(config, None, now=100.0, sensors={})
    assert machine.state == "idle"
    assert [e.kind for e in step.entries] == ["transition"]
    assert type(step.state) is MachineState

    refused = machine.fire("start", None, now=101.0, sensors={WATER: 70.0})
    assert isinstance(refused.result, Refused)
    assert refused.result.code == "guard_failed"
    assert refused.state is None  # nothing to store
    assert machine.fire("stop", None, now=101.0, sensors={}).result.code == "not_allowed"  # type: ignore[union-attr]

    started = machine.fire("start", None, now=102.0, sensors={WATER: 50.0})
    assert machine.state == "heating"
    fan_on, logger = started.actions
    assert fan_on == DriveOutput("boiler", "fan", True, None)
    assert isinstance(logger, RunService)
    assert logger.actions == (DriveOutput("boiler", "lamp", True, 2.0),)
    assert [e.detail for e in started.entries] == ["idle -> heating on start"]
    assert started.state is not None
    assert machine.due() == 102.0 + 1800

    # The bridge stops here: the stored state comes back with its timer.
    again, restart = PlainMachine.restore(config, started.state, now=500.0, sensors={})
    assert again.state == "heating"
    assert restart.entries == ()
    assert again.due() == 102.0 + 1800
    assert again.tick(now=1000.0, sensors={}) is None
    timed_out = again.tick(now=1902.0, sensors={})
    assert timed_out is not None
    assert again.state == "idle"
    assert timed_out.actions == (DriveOutput("boiler", "fan", False, None),)

    override = again.set_state("heating", now=2000.0, sensors={})
    assert override.ok
    assert [e.kind for e in override.entries] == ["override", "transition"]
    assert override.entries[0].detail == "set_state idle -> heating"
    assert again.set_state("boiling", now=2001.0, sensors={}).result.code == "invalid"  # type: ignore[union-attr]
    hot = again.observe(now=2002.0, sensors={WATER: 96.0})
    assert hot is not None
    assert again.state == "idle"
    assert [e.seq for e in hot.entries] == [override.entries[-1].seq + 1]


def test_a_state_no_longer_in_the_file_goes_back_to_the_initial_state(tmp_path: Path) -> None:
    (config,) = _config(tmp_path).machines
    saved = MachineState("boiling", entered_at=5.0, seq=9)
    machine, step = PlainMachine.restore(config, saved, now=10.0, sensors={})
    assert machine.state == "idle"
    assert [e.kind for e in step.entries] == ["override", "transition"]
    assert "'boiling' is no longer configured" in step.entries[0].detail
    assert step.entries[0].seq == 10


# ----- the runtime -----------------------------------------------------------------------------


def test_a_plain_machine_runs_on_gpio_and_sensors_offline(
    tmp_path: Path, pins: MockFactory
) -> None:
    config = _config(tmp_path)

    async def scenario(loop: ManualClockLoop) -> None:
        device_set = build_device_set(config)
        link = FakeLink(loop)
        spool = Spool(config.spool_path, config.spool)
        topics = Topics("iot_monitor", "lab-pi", "homeassistant")
        outputs = {(o.device_id, o.spec.id): o for o in device_set.outputs}
        publisher = Publisher(
            link=link,  # type: ignore[arg-type]
            spool=spool,
            info=BridgeInfo("lab-pi", "Lab Pi", "1.0", topics),
            devices=[*device_set.devices, machine_device(config.machines[0])],
            outputs=outputs,
        )
        epoch = time.time() - loop.time()
        publisher.start()
        ledger, (runner,) = build_runners(
            config,
            emit=publisher.emit,
            drive=lambda d, o, on: publisher.drive_output(d, o, on=on),
            clock=lambda: epoch + loop.time(),
        )
        assert ledger is not None
        publisher.listeners.append(runner.reading)
        runner.start()
        button = device_set.configured[("boiler", "button")]
        task = asyncio.create_task(button.run(publisher.emit))
        await settle()

        publisher.emit(Reading("boiler", "water_temp", 40.0, now_ms()))
        pins.pin(BUTTON_PIN).drive_low()  # pressed: start
        await advance(loop, 0.1)
        assert runner.machine.state == "heating"
        assert pins.pin(FAN_PIN).state
        assert pins.pin(LAMP_PIN).state  # the service's pulse
        await advance(loop, 2.1)
        assert not pins.pin(LAMP_PIN).state
        publisher.emit(Reading("boiler", "water_temp", 97.0, now_ms()))
        await settle()
        await runner.idle()
        assert runner.machine.state == "idle"
        assert not pins.pin(FAN_PIN).state
        refused = runner.fire("stop")
        assert isinstance(refused.result, Refused)

        link.up()  # all of it happened offline: the stream has it, in order
        await advance(loop, 2.0)
        readings = [r for batch in link.stream(topics.stream) for r in batch]
        mine = [r for r in readings if r.device_id == "boiler_machine"]
        assert [r.value for r in mine if r.sensor_id == "state"] == ["idle", "heating", "idle"]
        moves = [r.value for r in mine if r.sensor_id == "transition"]
        assert [(m["event_type"], m["to"]) for m in moves] == [
            ("start", "idle"),
            ("start", "heating"),
            ("when", "idle"),
        ]
        assert {r.sensor_id for r in mine} == {"state", "transition"}  # no money, no stock
        seqs = [r.seq for r in readings]
        assert seqs == sorted(seqs)

        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        button.close()
        await runner.stop()
        await publisher.stop()
        spool.close()
        kinds = [e.kind for e in ledger.entries("boiler")]
        assert kinds == ["transition"] * 3
        ledger.close()
        for output in outputs.values():
            output.close()

    run(scenario)


@pytest.mark.parametrize("state", ["idle", "heating"])
def test_a_restart_restores_the_state_from_the_ledger(tmp_path: Path, state: str) -> None:
    (config,) = _config(tmp_path).machines
    ledger = Ledger(tmp_path / "ledger.db")
    machine, step = PlainMachine.restore(config, None, now=1.0, sensors={})
    ledger.commit(config.id, step.entries, step.state)
    if state == "heating":
        started = machine.fire("start", None, now=2.0, sensors={WATER: 20.0})
        ledger.commit(config.id, started.entries, started.state)
    ledger.close()
    reopened = Ledger(tmp_path / "ledger.db")
    saved = reopened.load(config.id, MachineState)
    assert saved is not None
    again, _ = PlainMachine.restore(config, saved, now=3.0, sensors={})
    assert again.state == state
    reopened.close()


# ----- a serial line as an input -----------------------------------------------------------

PANEL = """
bridge: {{id: lab-pi}}
mqtt: {{brokers: [{{host: 127.0.0.1}}]}}
state_dir: {state_dir}
devices:
  - id: boiler
    sensors:
      - id: panel
        type: serial
        port: /dev/ttyUSB0
        protocol: key_value
        fields: {{key: {{}}, amount: {{}}}}
machines:
  - id: boiler
    initial: idle
    states: {{idle: , heating: }}
    transitions:
      - {{event: start, from: idle, to: heating}}
      - {{event: stop, from: heating, to: idle}}
      - {{event: set_point, from: "*"}}
    inputs:
      - {{input: boiler/panel_key, equals: 1, event: start}}
      - {{input: boiler/panel_key, equals: 2, event: stop}}
      - {{input: boiler/panel_amount, event: set_point, value_as: celsius, data: {{by: panel}}}}
"""


def test_a_serial_lines_values_fire_events(tmp_path: Path) -> None:
    """A control panel on a serial port: key codes start and stop, a number is passed on."""
    config = parse_config(PANEL.format(state_dir=tmp_path))

    async def scenario(loop: ManualClockLoop) -> None:
        del loop
        fired: list[tuple[str, object]] = []
        ledger, (runner,) = build_runners(
            config, emit=lambda reading: None, drive=lambda d, o, on: None
        )
        assert ledger is not None
        runner.start()
        machine = runner.machine
        real_fire = machine.fire

        def fire(event: str, data: object, **kwargs: object) -> object:
            fired.append((event, data))
            return real_fire(event, data, **kwargs)  # type: ignore[arg-type]

        machine.fire = fire  # type: ignore[method-assign]
        runner.reading(Reading("boiler", "panel_key", 3, now_ms()))  # no input for 3
        assert machine.state == "idle"
        runner.reading(Reading("boiler", "panel_key", 1, now_ms()))
        assert machine.state == "heating"
        runner.reading(Reading("boiler", "panel_key", 1, now_ms()))  # refused, logged
        runner.reading(Reading("boiler", "panel_amount", 55, now_ms()))
        runner.reading(Reading("boiler", "panel_key", 2, now_ms()))
        assert machine.state == "idle"
        assert fired == [
            ("start", {}),
            ("start", {}),
            ("set_point", {"by": "panel", "celsius": 55}),
            ("stop", {}),
        ]
        await runner.stop()
        ledger.close()

    run(scenario)
