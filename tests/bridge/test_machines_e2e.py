"""A vending machine in the real bridge over a real Mosquitto: from ``fire`` and from GPIO.

The machine of bridge/examples/vending.yaml (without its fridge thermometer, and with a
short dispense pulse) on gpiozero's mock pins. Home Assistant's side is a plain client: it
buys a product with ``fire`` commands, and sees every transition on the stream in ``seq``
order and the state topic end on the newest state; a refused event names the state.

Customers keep buying while the network is down, with coins and buttons: the GPIO pins
drive the machine then, and mock pins can only be driven in the process that opened them,
so that run has the real ``BridgeApp`` in the test's process (its real MQTT link, spool and
ledger) with a TCP proxy between it and the broker to cut.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from iot_monitor_bridge.config import parse_config
from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.machines.vending import VendingState, replay
from iot_monitor_bridge.runtime.app import BridgeApp
from iot_monitor_bridge.runtime.ledger import Ledger
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies
from tests.support.tcp_proxy import TcpProxy
from tests.support.vending import vending_example

BRIDGE = "vending-pi"
ROOT = f"iot_monitor/{BRIDGE}"
COMMAND = f"{ROOT}/command"
RESULT = f"{ROOT}/command/result"
MACHINE = "vending_machine"
STATE = f"{ROOT}/{MACHINE}/state/state"


@pytest.fixture
def bridge(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[BridgeProcess]:
    example = vending_example()
    process = BridgeProcess(
        tmp_path,
        [mosquitto],
        example["devices"],
        bridge={"id": BRIDGE, "name": "Vending Pi"},
        machines=example["machines"],
    )
    process.env["GPIOZERO_PIN_FACTORY"] = "mock"
    yield process
    process.close()


def _command(recorder: Recorder, command_id: str, **message: Any) -> dict[str, Any]:
    recorder.publish(COMMAND, json.dumps({"id": command_id, **message}))

    def answered(messages: list[Message]) -> bool:
        return any(m.topic == RESULT and m.json()["id"] == command_id for m in messages)

    messages = recorder.wait_for(answered, what=f"result of {command_id}")
    result: dict[str, Any] = next(
        m.json() for m in messages if m.topic == RESULT and m.json()["id"] == command_id
    )
    return result


def _states(readings: list[Any]) -> list[str]:
    return [
        r.value for r in readings if r.device_id == "vending_machine" and r.sensor_id == "state"
    ]


def test_a_purchase_driven_by_fire_commands(bridge: BridgeProcess, recorder: Recorder) -> None:
    bridge.start()

    def online(messages: list[Message]) -> bool:
        assert bridge.running, f"the bridge exited:\n{bridge.log}"
        return any(m.topic == f"{ROOT}/availability" and m.payload == b"online" for m in messages)

    recorder.wait_for(online, what="online")
    refused = _command(recorder, "p0", command="fire", machine="vending", event="pay")
    assert refused["ok"] is False
    assert refused["error"]["code"] == "not_allowed"
    assert "'idle'" in refused["error"]["message"]
    assert "allowed there:" in refused["error"]["message"]

    credit = _command(
        recorder, "c1", command="fire", machine="vending", event="credit", data={"amount": 5000}
    )
    assert credit["ok"] is True, credit
    assert credit["result"]["credit"] == 5000
    select = _command(
        recorder, "s1", command="fire", machine="vending", event="select", data={"slot": "a"}
    )
    assert select["result"]["state"] == "awaiting_payment", select
    pay = _command(recorder, "p1", command="fire", machine="vending", event="pay")
    assert pay["result"]["state"] == "dispensing", pay

    def sold(readings: list[Any]) -> bool:
        return _states(readings)[-1:] == ["idle"] and "dispensing" in _states(readings)

    readings = recorder.wait_for_readings(sold, what="the sale on the stream")
    seqs = [r.seq for r in first_copies(readings)]
    assert seqs == sorted(seqs)
    assert _states(first_copies(readings)) == ["idle", "awaiting_payment", "dispensing", "idle"]
    stock = [
        r.value for r in readings if r.device_id == "vending_machine" and r.sensor_id == "stock_a"
    ]
    assert stock[-1] == 9

    last_idle = max(
        r.seq for r in readings if r.device_id == "vending_machine" and r.value == "idle"
    )

    def state_topic_on_the_newest(messages: list[Message]) -> bool:
        states = [m.json() for m in messages if m.topic == STATE]
        return bool(states) and states[-1]["v"] == "idle" and states[-1]["seq"] >= last_idle

    recorder.wait_for(state_topic_on_the_newest, what="the state topic on the newest state")
    restock = _command(recorder, "r1", command="restock", machine="vending", slot="a", count=3)
    assert restock["ok"] is True, restock
    override = _command(
        recorder, "o1", command="set_state", machine="vending", state="out_of_service"
    )
    assert override["result"]["state"] == "out_of_service", override
    bridge.stop()
    assert "set_state idle -> out_of_service" in json.dumps(_ledger(bridge))


def _ledger(bridge: BridgeProcess) -> list[str]:
    from iot_monitor_bridge.runtime.ledger import Ledger

    ledger = Ledger(bridge.state_dir / "ledger.db")
    try:
        return [f"{e.kind} {e.detail}" for e in ledger.entries("vending")]
    finally:
        ledger.close()


COIN_PIN, PAY_PIN = 17, 25
BUTTONS = {"a": ("button_a", 22), "b": ("button_b", 23)}
SALES = 20


class _Levels:
    """The readings the bridge accepted (a listener of its publisher), to wait on."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self._changed = asyncio.Event()

    def __call__(self, reading: Reading) -> None:
        self.readings.append(reading)
        self._changed.set()

    def count(self, device: str, sensor: str) -> int:
        return sum(1 for r in self.readings if (r.device_id, r.sensor_id) == (device, sensor))

    async def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(10):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def press(self, pins: MockFactory, pin: int, sensor: str) -> None:
        """A press to ground (or a coin pulse): low until the bridge reports it, then high."""
        before = self.count("vending", sensor)
        pins.pin(pin).drive_low()
        await self.wait_for(lambda: self.count("vending", sensor) == before + 1, f"{sensor} on")
        pins.pin(pin).drive_high()
        await self.wait_for(lambda: self.count("vending", sensor) == before + 2, f"{sensor} off")


async def test_sales_offline_from_gpio_reach_the_stream_in_order_after_the_outage(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder, pins: MockFactory
) -> None:
    example = vending_example("50ms")
    for sensor in example["devices"][1]["sensors"]:
        sensor["bounce_time"] = "5ms"
    proxy = TcpProxy(mosquitto.host, mosquitto.port).start()
    config = parse_config(
        yaml.safe_dump(
            {
                "bridge": {"id": BRIDGE},
                "mqtt": {"brokers": [{"host": proxy.host, "port": proxy.port}]},
                "http": {"enabled": False},
                "zeroconf": {"enabled": False},
                "state_dir": str(tmp_path / "state"),
                **example,
            }
        )
    )
    app = BridgeApp(config)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    levels = _Levels()
    try:
        await asyncio.to_thread(
            recorder.wait_for_readings, lambda rs: _states(rs) == ["idle"], 15.0, "the start"
        )
        app.publisher.listeners.append(levels)  # from here on: the presses' levels
        proxy.cut()

        def availability(messages: list[Message]) -> list[bytes]:
            return [m.payload for m in messages if m.topic == f"{ROOT}/availability"]

        await asyncio.to_thread(
            recorder.wait_for, lambda ms: availability(ms)[-1:] == [b"offline"], 15.0, "the will"
        )
        runner = app.machines["vending"]
        for n in range(SALES):
            slot = "ab"[n % 2]
            for _ in range(runner.machine.s.prices[slot] // 500):
                await levels.press(pins, COIN_PIN, "coin")
            await levels.press(pins, BUTTONS[slot][1], BUTTONS[slot][0])
            await levels.press(pins, PAY_PIN, "pay_button")
            await levels.wait_for(
                lambda n=n: (
                    _states(levels.readings).count("dispensing") == n + 1
                    and _states(levels.readings)[-1] == "idle"
                ),
                f"sale {n + 1}",
            )
        offline = recorder.stream_readings()
        assert _states(offline) == ["idle"]  # the start; every sale was offline

        proxy.start()  # the network is back: the spool drains
        end = levels.readings[-1].seq

        def drained(readings: list[Reading]) -> bool:
            return any(r.seq >= end for r in readings)

        readings = await asyncio.to_thread(
            recorder.wait_for_readings, drained, 30.0, "the backlog on the stream"
        )
        last_state = max(
            r.seq for r in levels.readings if (r.device_id, r.sensor_id) == (MACHINE, "state")
        )

        def state_topic_on_the_newest(messages: list[Message]) -> bool:
            return any(m.topic == STATE and m.json()["seq"] == last_state for m in messages)

        messages = await asyncio.to_thread(
            recorder.wait_for, state_topic_on_the_newest, 15.0, "the state topic on the newest"
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        proxy.close()

    stream = first_copies(readings)  # a repeat must be the same reading
    seqs = [r.seq for r in stream]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))  # each seq once, in order, none missing
    assert _states(stream) == ["idle"] + SALES * ["awaiting_payment", "dispensing", "idle"]

    def last(sensor: str) -> Any:
        return [r.value for r in stream if (r.device_id, r.sensor_id) == (MACHINE, sensor)][-1]

    assert (last("credit"), last("stock_a"), last("stock_b")) == (0, 0, 2)
    relays = [r for r in stream if r.device_id == "vending" and r.sensor_id.startswith("dispense_")]
    assert [r.sensor_id for r in relays if r.value is True] == SALES // 2 * [
        "dispense_a",
        "dispense_b",
    ]
    last_idle = max(r.seq for r in stream if r.sensor_id == "state" and r.value == "idle")
    state_topic = [m.json() for m in messages if m.topic == STATE]
    assert (state_topic[-1]["v"], state_topic[-1]["seq"]) == ("idle", last_idle)

    ledger = Ledger(tmp_path / "state" / "ledger.db")
    try:
        entries = ledger.entries("vending", limit=10**6)
        state = ledger.load("vending", VendingState)
    finally:
        ledger.close()
    assert state is not None
    assert (state.state, state.credit, state.stock["a"], state.stock["b"]) == ("idle", 0, 0, 2)
    assert replay(entries) == {"inserted": 80000, "sales": 80000, "change": 0, "refunds": 0}
    assert [e.order for e in entries if e.kind == "sale"] == list(range(1, SALES + 1))
