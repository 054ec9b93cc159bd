"""The machine commands on the command channel (``fire``, ``restock``, ``set_price``,
``set_state``): what the pure handler checks and the effects it hands the runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.commands import (
    CommandHandler,
    ErrorCode,
    FireMachineEvent,
    SetMachineState,
)
from iot_monitor_bridge.config import load_config

EXAMPLE = Path(__file__).parents[2] / "bridge" / "examples" / "vending.yaml"


@pytest.fixture
def handler() -> CommandHandler:
    return CommandHandler(load_config(EXAMPLE))


def _send(handler: CommandHandler, **message: Any) -> tuple[dict[str, Any], tuple[object, ...]]:
    outcome = handler.handle(json.dumps({"id": "c1", **message}).encode(), 0.0)
    return json.loads(outcome.result_payload), outcome.effects


def test_fire_hands_the_event_to_the_runtime(handler: CommandHandler) -> None:
    result, effects = _send(
        handler, command="fire", machine="vending", event="select", data={"slot": "a"}
    )
    assert result["ok"] is True
    assert effects == (FireMachineEvent("vending", "select", {"slot": "a"}),)
    result, effects = _send(handler, command="fire", machine="vending", event="pay")
    assert effects == (FireMachineEvent("vending", "pay", {}),)


def test_fire_of_an_event_commands_may_not_fire_is_not_allowed(handler: CommandHandler) -> None:
    result, effects = _send(handler, command="fire", machine="vending", event="coin")
    assert effects == ()
    assert result["error"]["code"] == ErrorCode.NOT_ALLOWED
    assert "'coin'" in result["error"]["message"]
    assert "credit, select, pay" in result["error"]["message"]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (
            {"command": "fire", "machine": "fridge", "event": "pay"},
            "machine: unknown machine 'fridge'; machines: vending",
        ),
        ({"command": "fire", "event": "pay"}, "machine: field required"),
        ({"command": "fire", "machine": "vending", "event": 3}, "event: expected a string"),
        (
            {"command": "fire", "machine": "vending", "event": "pay", "data": [1]},
            "data: expected a JSON object",
        ),
        ({"command": "fire", "machine": "vending", "event": "pay", "x": 1}, "x: unknown key"),
        (
            {"command": "restock", "machine": "vending", "slot": "z", "count": 2},
            "slot: unknown slot 'z'; slots: a, b, c",
        ),
        (
            {"command": "restock", "machine": "vending", "slot": "a", "count": 0},
            "count: expected an integer from 1 to 1000000",
        ),
        (
            {"command": "restock", "machine": "vending", "slot": "a", "count": True},
            "count: expected an integer from 1 to 1000000",
        ),
        ({"command": "restock", "machine": "vending", "slot": "a"}, "count: field required"),
        (
            {"command": "set_price", "machine": "vending", "slot": "a", "price": 1.5},
            "price: expected an integer from 1 to 1000000000",
        ),
        (
            {"command": "set_state", "machine": "vending", "state": "sleeping"},
            "state: unknown state 'sleeping'; states: idle, awaiting_payment, dispensing, "
            "out_of_stock, out_of_service, needs_attention",
        ),
    ],
)
def test_invalid_machine_commands_name_the_key(
    handler: CommandHandler, message: dict[str, Any], problem: str
) -> None:
    result, effects = _send(handler, **message)
    assert effects == ()
    assert result["error"] == {"code": "invalid", "message": problem}


def test_restock_set_price_and_set_state_effects(handler: CommandHandler) -> None:
    _, effects = _send(handler, command="restock", machine="vending", slot="b", count=5)
    assert effects == (FireMachineEvent("vending", "restock", {"slot": "b", "count": 5}),)
    _, effects = _send(handler, command="set_price", machine="vending", slot="b", price=3500)
    assert effects == (FireMachineEvent("vending", "set_price", {"slot": "b", "price": 3500}),)
    _, effects = _send(handler, command="set_state", machine="vending", state="out_of_service")
    assert effects == (SetMachineState("vending", "out_of_service"),)


def test_a_refusal_by_the_machine_is_counted_as_an_error(handler: CommandHandler) -> None:
    outcome = handler.handle(
        b'{"id": "r", "command": "fire", "machine": "vending", "event": "pay"}', 0.0
    )
    assert handler.counts["ok"] == 1
    payload = handler.refused(outcome, "not_allowed", "'pay' is not allowed in the state 'idle'")
    assert json.loads(payload) == {
        "id": "r",
        "ok": False,
        "error": {"code": "not_allowed", "message": "'pay' is not allowed in the state 'idle'"},
    }
    assert (handler.counts["ok"], handler.counts["error"]) == (0, 1)
