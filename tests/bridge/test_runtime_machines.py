"""The machines' runtime adapter (runtime/machines.py) on a fake link and a manual clock.

The vending machine of bridge/examples/vending.yaml with its GPIO on gpiozero's MockFactory:
coin pulses and buttons in through the real ``GpioInputDriver``, the dispense relay out
through the real ``GpioOutputDriver``, every reading through the real ``Publisher`` and
spool, the broker played by ``FakeLink``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from iot_monitor_bridge.config import BridgeConfig, parse_config
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.contract.topics import Topics
from iot_monitor_bridge.drivers import build_device_set
from iot_monitor_bridge.drivers.base import now_ms
from iot_monitor_bridge.protocol.discovery import BridgeInfo
from iot_monitor_bridge.runtime.ledger import Ledger
from iot_monitor_bridge.runtime.machines import (
    MachineRunner,
    build_runners,
    guarded_sensors,
    machine_device,
)
from iot_monitor_bridge.runtime.publisher import Publisher
from iot_monitor_bridge.runtime.spool import Spool
from tests.support.fake_link import FakeLink, ManualClockLoop, advance, run, settle

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
COIN_PIN, BUTTON_A_PIN, PAY_PIN, DISPENSE_A_PIN = 17, 22, 25, 6


def _config(tmp_path: Path) -> BridgeConfig:
    text = EXAMPLE.read_text(encoding="utf-8").replace("/var/lib/iot-monitor", str(tmp_path))
    return parse_config(text)


def test_only_the_sensors_guards_read_are_watched(tmp_path: Path) -> None:
    """Other readings (a fleet's, 160 a second in the demo) never reach the machine."""
    (machine,) = _config(tmp_path).machines
    assert guarded_sensors(machine) == {("fridge", "temperature")}


class Rig:
    """The bridge's pieces that a machine touches, on a ``ManualClockLoop``."""

    def __init__(self, loop: ManualClockLoop, config: BridgeConfig) -> None:
        self.loop = loop
        self.config = config
        self.device_set = build_device_set(config)
        self.link = FakeLink(loop)
        self.spool = Spool(config.spool_path, config.spool)
        topics = Topics("iot_monitor", config.bridge.id, "homeassistant")
        self.topics = topics
        self.outputs = {(o.device_id, o.spec.id): o for o in self.device_set.outputs}
        devices = [*self.device_set.devices, machine_device(config.machines[0])]
        self.publisher = Publisher(
            link=self.link,  # type: ignore[arg-type]
            spool=self.spool,
            info=BridgeInfo(config.bridge.id, "Vending Pi", "1.0", topics),
            devices=devices,
            outputs=self.outputs,
        )
        self.epoch = time.time() - loop.time()
        self.driven: list[tuple[str, str, bool, float]] = []
        self.ledger: Ledger | None = None
        self.runner: MachineRunner | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def clock(self) -> float:
        """Wall-clock seconds that move with the loop's clock (the spool keeps recent ones)."""
        return self.epoch + self.loop.time()

    def drive(self, device: str, output: str, on: bool) -> None:
        self.driven.append((device, output, on, self.loop.time()))
        self.publisher.drive_output(device, output, on=on)

    def start(self) -> MachineRunner:
        self.publisher.start()
        self.ledger, runners = build_runners(
            self.config, emit=self.publisher.emit, drive=self.drive, clock=self.clock
        )
        (runner,) = runners
        self.publisher.listeners.append(runner.reading)
        runner.start()
        for key in (("vending", "coin"), ("vending", "button_a"), ("vending", "pay_button")):
            driver = self.device_set.configured[key]
            self.tasks.append(asyncio.create_task(driver.run(self.publisher.emit)))
        self.runner = runner
        return runner

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for key in (("vending", "coin"), ("vending", "button_a"), ("vending", "pay_button")):
            self.device_set.configured[key].close()
        if self.runner is not None:
            await self.runner.stop()
        await self.publisher.stop()
        self.spool.close()
        if self.ledger is not None:
            self.ledger.close()
        for output in self.outputs.values():
            output.close()

    def temperature(self, value: float) -> None:
        self.publisher.emit(Reading("fridge", "temperature", value, now_ms()))

    async def press(self, pins: MockFactory, pin: int) -> None:
        """A press of a button to ground (or one coin pulse): low, then high again."""
        pins.pin(pin).drive_low()
        await advance(self.loop, 0.06)
        pins.pin(pin).drive_high()
        await advance(self.loop, 0.06)

    def stream(self) -> list[Reading]:
        return [r for batch in self.link.stream(self.topics.stream) for r in batch]


def _machine_readings(readings: list[Reading], sensor: str) -> list[Any]:
    return [r.value for r in readings if r.device_id == "vending_machine" and r.sensor_id == sensor]


def test_a_purchase_offline_from_gpio_reaches_the_stream_in_order(
    tmp_path: Path, pins: MockFactory
) -> None:
    config = _config(tmp_path)

    async def scenario(loop: ManualClockLoop) -> None:
        rig = Rig(loop, config)
        runner = rig.start()
        await settle()
        assert runner.machine.state == "out_of_service"  # the fridge has not reported yet
        rig.temperature(9.0)
        await settle()
        assert runner.machine.state == "out_of_service"  # too warm
        rig.temperature(5.0)
        await settle()
        assert runner.machine.state == "idle"
        for _ in range(10):  # 10 pulses of 500: the price of slot a
            await rig.press(pins, COIN_PIN)
        assert runner.machine.s.credit == 5000
        await rig.press(pins, BUTTON_A_PIN)
        assert runner.machine.state == "awaiting_payment"
        await rig.press(pins, PAY_PIN)
        assert runner.machine.state == "dispensing"
        relay = pins.pin(DISPENSE_A_PIN)
        assert relay.state  # the order was marked before the relay moved
        assert runner.machine.s.order is not None
        assert runner.machine.s.order.status == "dispensing"
        await advance(loop, 2.5)
        await runner.idle()
        assert not relay.state
        assert runner.machine.state == "idle"
        assert (runner.machine.s.stock["a"], runner.machine.s.sales) == (9, 5000)
        on, off = [d for d in rig.driven if d[1] == "dispense_a"]
        assert (on[2], off[2]) == (True, False)
        assert off[3] - on[3] == pytest.approx(2.0)
        assert rig.ledger is not None
        kinds = [e.kind for e in rig.ledger.entries("vending")]
        assert kinds.index("dispense") < kinds.index("sale")

        # All of it was offline: the broker comes, the spool drains in seq order.
        rig.link.up()
        await advance(loop, 2.0)
        readings = rig.stream()
        seqs = [r.seq for r in readings]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        states = _machine_readings(readings, "state")
        assert states == [
            "idle",  # the first start
            "out_of_service",  # the fridge has not reported
            "idle",
            "awaiting_payment",
            "dispensing",
            "idle",
        ]
        credits = _machine_readings(readings, "credit")
        assert credits[-1] == 0
        assert max(credits) == 5000
        assert _machine_readings(readings, "stock_a")[-1] == 9
        assert _machine_readings(readings, "price_a") == [5000]  # at start; it never changed
        moves = [
            (t["event_type"], t["from"], t["to"]) for t in _machine_readings(readings, "transition")
        ]
        assert moves == [
            ("start", "idle", "idle"),
            ("when", "idle", "out_of_service"),
            ("when", "out_of_service", "idle"),
            ("select", "idle", "awaiting_payment"),
            ("pay", "awaiting_payment", "dispensing"),
            ("dispensed", "dispensing", "idle"),
        ]
        ledger = _machine_readings(readings, "ledger")
        kinds = [e["event_type"] for e in ledger]
        assert kinds.count("credit") == 10
        assert kinds[-2:] == ["dispense", "sale"]
        assert ledger[-1] == {
            "event_type": "sale",
            "seq": ledger[-1]["seq"],
            "amount": 5000,
            "slot": "a",
            "order": 1,
        }
        assert [e["seq"] for e in ledger] == sorted(e["seq"] for e in ledger)
        totals = {k: _machine_readings(readings, k)[-1] for k in ("sales", "sold", "cash_box")}
        assert totals == {"sales": 5000, "sold": 1, "cash_box": 5000}
        state_topic = rig.topics.state("vending_machine", "state")
        assert rig.link.on(state_topic)[-1].payload.startswith(b'{"v":"idle"')
        await rig.stop()

    run(scenario)


def test_timeout_on_the_loop_clock_and_a_restart_mid_dispense(
    tmp_path: Path, pins: MockFactory
) -> None:
    config = _config(tmp_path)

    async def first(loop: ManualClockLoop) -> None:
        rig = Rig(loop, config)
        runner = rig.start()
        rig.temperature(5.0)
        await settle()
        runner.fire("credit", {"amount": 5000})
        assert runner.fire("select", {"slot": "a"}).ok
        await advance(loop, 61.0)  # awaiting_payment times out after 60 s
        assert runner.machine.state == "idle"
        assert runner.machine.s.credit == 0  # refunded
        runner.fire("credit", {"amount": 5000})
        runner.fire("select", {"slot": "a"})
        runner.fire("pay")
        await settle()
        assert pins.pin(DISPENSE_A_PIN).state is True
        # the bridge dies here (nothing more is committed)
        for task in rig.tasks:
            task.cancel()
        if rig.runner is not None:
            await rig.runner.stop(wait_s=0)
        rig.spool.close()
        assert rig.ledger is not None
        rig.ledger.close()
        for output in rig.outputs.values():
            output.close()

    run(first)

    async def second(loop: ManualClockLoop) -> None:
        rig = Rig(loop, config)
        runner = rig.start()
        await settle()
        assert runner.machine.state == "needs_attention"
        assert not [d for d in rig.driven if d[1] == "dispense_a"]  # never twice
        refused = runner.fire("pay")
        assert not refused.ok
        assert "needs_attention" in refused.result.message  # type: ignore[union-attr]
        assert runner.fire("settle", {"outcome": "dispensed"}).ok
        rig.temperature(5.0)
        await settle()
        assert runner.machine.state == "idle"
        assert runner.machine.s.balanced
        await rig.stop()

    run(second)


def test_a_clean_stop_lets_a_running_dispense_finish(tmp_path: Path, pins: MockFactory) -> None:
    config = _config(tmp_path)

    async def scenario(loop: ManualClockLoop) -> None:
        rig = Rig(loop, config)
        runner = rig.start()
        rig.temperature(5.0)
        await settle()
        for event, data in (("credit", {"amount": 5000}), ("select", {"slot": "a"}), ("pay", {})):
            assert runner.fire(event, data).ok
        await settle()
        assert pins.pin(DISPENSE_A_PIN).state
        stopping = asyncio.create_task(runner.stop())  # SIGTERM in the middle of the pulse
        await advance(loop, 2.5)
        await stopping
        assert not pins.pin(DISPENSE_A_PIN).state
        assert runner.machine.state == "idle"
        assert runner.machine.s.order is None
        assert runner.machine.s.sales == 5000
        await rig.stop()

    run(scenario)
