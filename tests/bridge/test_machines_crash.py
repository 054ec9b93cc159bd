"""``kill -9`` of the real bridge process in every state of a purchase, then a restart.

The vending machine of bridge/examples/vending.yaml on gpiozero's mock pins, over a real
Mosquitto, bought with ``fire`` commands. At each point of a purchase the process gets
SIGKILL (a power cut as far as its files know) and is started again on the same state
directory. A plain subscriber and the ledger file, read while no bridge runs, check from
the outside that the credit survived, that no order was released twice or lost, that the
money adds up, and that the state topic carries the restored state.

The ledger is committed with every step; the readings that carry a step to the stream
wait for the spool's next commit, so a kill offline can lose them: the last test shows it.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.machines.vending import Entry, VendingState, replay
from iot_monitor_bridge.runtime.ledger import Ledger
from tests.bridge.test_machines_e2e import BRIDGE, MACHINE, ROOT, STATE, _command
from tests.support.bridge_process import BridgeProcess
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies
from tests.support.tcp_proxy import TcpProxy
from tests.support.vending import vending_example

pytestmark = pytest.mark.slow  # six kills and restarts: 15 to 20 s

PRICE_A = 5000
PAID = 6000
"""The credit of a purchase: slot a's price and 1000 of change."""
Event = tuple[str, dict[str, Any]]
CREDIT: Event = ("credit", {"amount": PAID})
SELECT: Event = ("select", {"slot": "a"})
PAY: Event = ("pay", {})


@dataclass(frozen=True)
class KillPoint:
    """Where in a purchase the bridge dies, and what a restart must come back to."""

    name: str
    events: tuple[Event, ...]
    """The ``fire`` commands sent before the kill."""
    reached: Callable[[list[Reading]], bool]
    """When the stream shows the purchase got there (then SIGKILL)."""
    stored: str
    """The state in the ledger at the kill."""
    restored: str
    """The state the restart comes back to (it may move on from there)."""
    credit: int
    """The credit at the kill, and after the restart."""
    finish: tuple[Event, ...]
    """The ``fire`` commands that end the purchase after the restart."""
    released_after_restart: bool
    """Whether the restarted bridge drives the dispense relay (the order was not marked)."""
    pre_release: str | None = None
    """A pulse of the chute lamp before the release, so a paid order waits unmarked."""
    pulse: str = "200ms"


def _values(readings: list[Reading], device: str, sensor: str) -> list[Any]:
    return [r.value for r in readings if (r.device_id, r.sensor_id) == (device, sensor)]


def _states(readings: list[Reading]) -> list[Any]:
    return _values(readings, MACHINE, "state")


POINTS = [
    KillPoint(
        "idle_with_credit",
        (CREDIT,),
        lambda rs: PAID in _values(rs, MACHINE, "credit"),
        stored="idle",
        restored="idle",
        credit=PAID,
        finish=(SELECT, PAY),
        released_after_restart=True,
    ),
    KillPoint(
        "awaiting_payment",
        (CREDIT, SELECT),
        lambda rs: _states(rs)[-1:] == ["awaiting_payment"],
        stored="awaiting_payment",
        restored="awaiting_payment",
        credit=PAID,
        finish=(PAY,),
        released_after_restart=True,
    ),
    KillPoint(
        "paid_before_the_mark",
        (CREDIT, SELECT, PAY),
        lambda rs: "dispensing" in _states(rs) and True in _values(rs, "vending", "chute_lamp"),
        stored="dispensing",
        restored="dispensing",
        credit=PAID - PRICE_A,
        finish=(),
        released_after_restart=True,
        pre_release="3s",
    ),
    KillPoint(
        "mid_pulse_after_the_mark",
        (CREDIT, SELECT, PAY),
        lambda rs: True in _values(rs, "vending", "dispense_a"),
        stored="dispensing",
        restored="needs_attention",
        credit=PAID - PRICE_A,
        finish=(("settle", {"outcome": "dispensed"}),),
        released_after_restart=False,
        pulse="5s",
    ),
    KillPoint(
        "right_after_dispensed",
        (CREDIT, SELECT, PAY),
        lambda rs: _states(rs)[-2:] == ["dispensing", "idle"],
        stored="idle",
        restored="idle",
        credit=0,
        finish=(),
        released_after_restart=False,
    ),
]


def _config(point: KillPoint) -> dict[str, Any]:
    example = vending_example(point.pulse)
    vending = example["devices"][1]
    vending["outputs"].append(
        {"id": "chute_lamp", "type": "gpio_output", "name": "Chute lamp", "pin": 16}
    )
    if point.pre_release is not None:
        service = example["machines"][0]["services"][0]
        lamp = {"output": "vending/chute_lamp", "on": True, "for": point.pre_release}
        service["do"].insert(0, lamp)
    return example


@pytest.fixture(params=POINTS, ids=[p.name for p in POINTS])
def point(request: pytest.FixtureRequest) -> KillPoint:
    kill_point: KillPoint = request.param
    return kill_point


@pytest.fixture
def bridge(tmp_path: Path, mosquitto: Mosquitto, point: KillPoint) -> Iterator[BridgeProcess]:
    example = _config(point)
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


def _books(bridge: BridgeProcess) -> tuple[list[Entry], VendingState]:
    """The ledger's entries and stored state, read while no bridge runs."""
    assert not bridge.running
    ledger = Ledger(bridge.state_dir / "ledger.db")
    try:
        state = ledger.load("vending", VendingState)
        assert state is not None
        return ledger.entries("vending", limit=10**6), state
    finally:
        ledger.close()


def _check_books(entries: list[Entry], state: VendingState) -> None:
    """Each order released at most once and never lost; the money adds up."""
    seqs = [e.seq for e in entries]
    assert seqs == list(range(1, state.seq + 1))  # no step lost, none twice
    totals = replay(entries)
    stored = {k: getattr(state, k) for k in ("inserted", "sales", "change", "refunds")}
    assert totals == stored
    assert totals["inserted"] == (
        totals["sales"] + totals["change"] + totals["refunds"] + state.credit + state.in_flight
    )
    dispensed = Counter(e.order for e in entries if e.kind == "dispense")
    ended = Counter(e.order for e in entries if e.kind in ("sale", "refund") and e.order)
    assert max(dispensed.values(), default=0) <= 1, entries
    assert max(ended.values(), default=0) <= 1, entries
    for order in range(1, state.next_order):  # every paid order
        if ended[order] == 0:
            assert state.order is not None
            assert state.order.id == order
            assert state.state in ("dispensing", "needs_attention")


def _newer(readings: list[Reading], after: int) -> list[Reading]:
    return [r for r in readings if r.seq > after]


def _fire(recorder: Recorder, command_id: str, events: tuple[Event, ...]) -> None:
    for n, (event, data) in enumerate(events):
        answer = _command(
            recorder, f"{command_id}-{n}", command="fire", machine="vending", event=event, data=data
        )
        assert answer["ok"] is True, answer


def test_kill_9_in_a_purchase_and_restart(
    bridge: BridgeProcess, recorder: Recorder, point: KillPoint
) -> None:
    bridge.start()

    def online(messages: list[Message]) -> bool:
        assert bridge.running, f"the bridge exited:\n{bridge.log}"
        return any(m.topic == f"{ROOT}/availability" and m.payload == b"online" for m in messages)

    recorder.wait_for(online, what="online")
    _fire(recorder, "before", point.events)
    seen = recorder.wait_for_readings(point.reached, what=f"the purchase at {point.name}")
    bridge.kill()  # SIGKILL

    entries, stored = _books(bridge)
    _check_books(entries, stored)
    assert (stored.state, stored.credit) == (point.stored, point.credit)
    marked = [e.order for e in entries if e.kind == "dispense"]
    assert marked == ([] if point.released_after_restart else [1])
    # Readings the dead bridge spooled but never sent go out again after the restart: the
    # restarted bridge's own readings are those numbered after every one of them.
    last = max({r.seq for r in seen} | {r.seq for r in bridge.spool_readings()})

    bridge.start()

    def restored(readings: list[Reading]) -> bool:
        fresh = _newer(readings, last)
        return point.restored in _states(fresh) and point.credit in _values(
            fresh, MACHINE, "credit"
        )

    recorder.wait_for_readings(restored, what=f"{point.restored} after the restart")

    def on_the_state_topic(messages: list[Message]) -> bool:
        return any(
            m.topic == STATE and m.json()["seq"] > last and m.json()["v"] == point.restored
            for m in messages
        )

    recorder.wait_for(on_the_state_topic, what="the restored state on the state topic")
    _fire(recorder, "after", point.finish)

    def sold(readings: list[Reading]) -> bool:
        states = _states(_newer(readings, last))
        return states[-1:] == ["idle"] and (
            "dispensing" in states or not point.released_after_restart
        )

    readings = recorder.wait_for_readings(sold, what="the purchase ended after the restart")
    bridge.stop()

    entries, ended = _books(bridge)
    _check_books(entries, ended)
    assert ended.order is None  # the paid order ended: sold, the rest of the credit paid out
    assert (ended.state, ended.sales, ended.credit, ended.stock["a"]) == ("idle", PRICE_A, 0, 9)
    assert ended.change + ended.refunds == PAID - PRICE_A
    assert [e.order for e in entries if e.kind == "dispense"] == [1]
    assert [e.order for e in entries if e.kind == "sale"] == [1]
    attention = [e.order for e in entries if e.kind == "attention"]
    assert attention == ([1] if point.restored == "needs_attention" else [])
    relay = _values(_newer(readings, last), "vending", "dispense_a")
    assert relay.count(True) == int(point.released_after_restart)


def test_a_transition_made_offline_reaches_the_stream_after_kill_9(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder
) -> None:
    """The ledger holds the timeout's step at once, and so does the spool: no hole after a kill.

    Offline, the awaiting_payment timeout takes the machine back to idle (a refund), and
    the bridge is killed long before the spool's own next commit (every 30 s here): the
    runner commits the spool after each step.
    """
    example = vending_example()
    example["machines"][0]["states"]["awaiting_payment"]["timeout"]["after"] = "1s"
    proxy = TcpProxy(mosquitto.host, mosquitto.port).start()
    bridge = BridgeProcess(
        tmp_path,
        [],
        example["devices"],
        bridge={"id": BRIDGE, "name": "Vending Pi"},
        machines=example["machines"],
        mqtt={"brokers": [{"host": proxy.host, "port": proxy.port}]},
        spool={"commit_interval": "30s"},
    )
    bridge.env["GPIOZERO_PIN_FACTORY"] = "mock"
    try:
        bridge.start()
        recorder.wait_for_readings(lambda rs: _states(rs) == ["idle"], what="the start")
        _fire(recorder, "before", (CREDIT, SELECT))
        recorder.wait_for_readings(lambda rs: _states(rs)[-1:] == ["awaiting_payment"])
        proxy.cut()
        _wait_for_entry(bridge, "awaiting_payment -> idle on timeout")
        bridge.kill()
        spooled = bridge.spool_readings()
        last = max(r.seq for r in [*recorder.stream_readings(), *spooled])
        proxy.start()
        bridge.start()
        readings = recorder.wait_for_readings(
            lambda rs: bool(_states(_newer(rs, last))), what="the restart's state"
        )
        # the start, the selection, the timeout (sent in seq order before the restart's state)
        assert _states(first_copies(readings)) == ["idle", "awaiting_payment", "idle", "idle"]
    finally:
        bridge.close()
        proxy.close()


def _wait_for_entry(bridge: BridgeProcess, detail: str) -> None:
    """Poll the running bridge's ledger for an entry (offline, there is nothing else to see)."""
    deadline = time.monotonic() + 10
    while True:
        assert bridge.running, bridge.log
        db = sqlite3.connect(f"file:{bridge.state_dir / 'ledger.db'}?mode=ro", uri=True)
        try:
            if db.execute("SELECT 1 FROM ledger WHERE detail = ?", (detail,)).fetchone():
                return
        finally:
            db.close()
        assert time.monotonic() < deadline, f"no ledger entry '{detail}'"
        time.sleep(0.02)
