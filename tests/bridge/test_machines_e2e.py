"""A vending machine in the real bridge process over a real Mosquitto, driven by ``fire``.

The machine of bridge/examples/vending.yaml (without its fridge thermometer, and with a
short dispense pulse) on gpiozero's mock pins. Home Assistant's side is a plain client: it
buys a product with ``fire`` commands, and sees every transition on the stream in ``seq``
order and the state topic end on the newest state; a refused event names the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from iot_monitor_bridge.config import _Loader
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"
BRIDGE = "vending-pi"
ROOT = f"iot_monitor/{BRIDGE}"
COMMAND = f"{ROOT}/command"
RESULT = f"{ROOT}/command/result"
STATE = f"{ROOT}/vending_machine/state/state"


def _example() -> dict[str, Any]:
    text = EXAMPLE.read_text(encoding="utf-8")
    example: dict[str, Any] = yaml.load(text, Loader=_Loader)
    fridge, vending = example["devices"]
    fridge.pop("sensors")  # no DS18B20 here: the machine is in service
    machine = example["machines"][0]
    for key in ("out_of_service", "back_in_service"):
        machine["vending"].pop(key)
    machine["services"][0]["do"][0]["for"] = "200ms"
    return {"devices": [fridge, vending], "machines": example["machines"]}


@pytest.fixture
def bridge(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[BridgeProcess]:
    example = _example()
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
