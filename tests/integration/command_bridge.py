"""The bridge's side of the command channel, behind the mocked broker.

The bridge's real ``CommandHandler`` (of bridge/examples/vending.yaml) answers every command
Home Assistant publishes, so tests of the actions and of the thresholds' commands see the
bridge's own results and refusals, not hand-written ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from iot_monitor_bridge.commands import (
    CommandHandler,
    CommandOutcome,
    FireMachineEvent,
    SetMachineState,
)
from iot_monitor_bridge.config import load_config
from tests.support.bridge_fleet import FleetBridge

VENDING = Path(__file__).resolve().parents[2] / "bridge" / "examples" / "vending.yaml"

type MachineAnswer = Callable[[CommandHandler, CommandOutcome, str, str], bytes]
"""The runtime's answer to a machine command: handler, outcome, machine, event."""


def idle_machine(
    handler: CommandHandler, outcome: CommandOutcome, machine: str, event: str
) -> bytes:
    """What the runtime answers after a machine took the event (here: it stays idle)."""
    answer = {"machine": machine, "event": event, "state": "idle", "credit": 0}
    return handler.answered(outcome, answer)


class CommandBridge:
    """The bridge's side of the command channel, behind the mocked broker."""

    def __init__(self, hass: HomeAssistant, bridge: FleetBridge) -> None:
        config = load_config(VENDING)
        config = msgspec.structs.replace(
            config, bridge=msgspec.structs.replace(config.bridge, id=bridge.bridge_id)
        )
        self.hass = hass
        self.topics = bridge.topics
        self.handler = CommandHandler(config)
        self.commands: list[dict[str, Any]] = []
        """Every payload received on the command topic, decoded."""
        self.received = asyncio.Event()
        self.answering = True
        self.machine_answer: MachineAnswer = idle_machine

    @callback
    def _command(self, msg: mqtt.ReceiveMessage) -> None:
        payload = msg.payload.encode() if isinstance(msg.payload, str) else msg.payload
        self.commands.append(json.loads(payload))
        self.received.set()
        if not self.answering:
            return
        outcome = self.handler.handle(payload, time.monotonic())
        result = outcome.result_payload
        for effect in outcome.effects:
            if isinstance(effect, FireMachineEvent):
                result = self.machine_answer(self.handler, outcome, effect.machine, effect.event)
            elif isinstance(effect, SetMachineState):
                result = self.machine_answer(self.handler, outcome, effect.machine, "set_state")
        async_fire_mqtt_message(self.hass, self.topics.command_result, result, 1)

    def sent(self) -> list[dict[str, Any]]:
        """The commands received, without the ids Home Assistant chose."""
        return [{k: v for k, v in command.items() if k != "id"} for command in self.commands]
