"""The demo's customer: buys from the demo bridge's vending machine now and then, over MQTT.

It stands in for the coin acceptor and the buttons of a real machine: it sends the same
events over the bridge's command channel (docs/mqtt.md, "Machine commands") as a person at
the machine makes with coins and buttons, one coin at a time, so the kiosk page and Home
Assistant show credit rising, the dispense, stock and sales moving. When every slot is
empty it restocks, as the person who fills the machine would.

    python scripts/demo_customer.py --port 1883 [--bridge demo-pi] [--every 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iot_monitor_bridge.contract.topics import Topics

MACHINE = "vending"
COIN_GAP_S = 0.4
"""Between two coins: about a person's pace at a coin slot."""
ANSWER_WAIT_S = 10.0
RESTOCK = 6


class Customer:
    """One MQTT client that sends commands and waits for each one's result."""

    def __init__(self, host: str, port: int, topics: Topics) -> None:
        self._topics = topics
        self._ids = itertools.count(1)
        self._answers: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="iot-monitor-demo-customer"
        )
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.connect(host, port)
        self.client.loop_start()

    def _connected(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self._topics.command_result, qos=1)

    def _message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            answer = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(answer, dict) and isinstance(answer.get("id"), str):
            with self._changed:
                self._answers[answer["id"]] = answer
                self._changed.notify_all()

    def command(self, **message: Any) -> dict[str, Any] | None:
        """Send one command; its result, or ``None`` if the bridge did not answer in time."""
        command_id = f"customer-{next(self._ids)}"
        payload = json.dumps({"id": command_id, **message})
        self.client.publish(self._topics.command, payload, qos=1)
        with self._changed:
            self._changed.wait_for(lambda: command_id in self._answers, ANSWER_WAIT_S)
            return self._answers.pop(command_id, None)

    def fire(self, event: str, **data: Any) -> dict[str, Any] | None:
        """Fire a machine event, as a button or the coin acceptor would."""
        return self.command(command="fire", machine=MACHINE, event=event, data=data)


def buy(customer: Customer, slot: str, price: int, coin: int) -> str | None:
    """One purchase: the product's button, coins up to the price, pay.

    ``None`` when it went through, else the refusal's code (``out_of_stock``, ...).
    """
    selected = customer.fire("select", slot=slot)
    if selected is None or not selected.get("ok"):
        return (selected or {}).get("error", {}).get("code", "no_answer")
    for _ in range(-(-price // coin)):
        customer.fire("coin")
        time.sleep(COIN_GAP_S)
    paid = customer.fire("pay")
    if paid is None or not paid.get("ok"):
        customer.fire("cancel")  # the coins come back
        return (paid or {}).get("error", {}).get("code", "no_answer")
    return None


def main() -> None:
    """Buy a random product every ``--every`` seconds until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--bridge", default="demo-pi")
    parser.add_argument("--topic-root", default="iot_monitor")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between purchases")
    parser.add_argument("--products", required=True, help="slot:price,... e.g. a:5000,b:3000")
    parser.add_argument("--coin", type=int, default=500, help="one coin's value")
    args = parser.parse_args()
    prices = {slot: int(price) for slot, price in (p.split(":") for p in args.products.split(","))}
    customer = Customer(args.host, args.port, Topics(args.topic_root, args.bridge, "homeassistant"))
    while True:
        time.sleep(args.every)
        slot = random.choice(sorted(prices))  # noqa: S311 - a demo's choice, not a secret
        refused = buy(customer, slot, prices[slot], args.coin)
        print(f"slot {slot}: {refused or 'sold'}", flush=True)
        if refused in ("out_of_stock", "not_allowed"):  # the person who fills it comes by
            customer.command(command="restock", machine=MACHINE, slot=slot, count=RESTOCK)


if __name__ == "__main__":
    main()
