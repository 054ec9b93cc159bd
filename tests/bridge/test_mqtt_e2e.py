"""The bridge as a real process (``python -m iot_monitor_bridge run``) over a real Mosquitto.

A plain MQTT client records what crosses the wire; the assertions are on those bytes:
Home Assistant discovery, availability (clean stop and the broker's will after SIGKILL),
readings and their ``seq``, the republish on ``homeassistant/status``, device removal,
GPIO outputs driven over MQTT (gpiozero's mock pins) and a serial sensor on a pty.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.fake_serial import FakeSerialDevice, sds011_frame
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder

BRIDGE = "lab-pi"
ROOT = f"iot_monitor/{BRIDGE}"
AVAILABILITY = f"{ROOT}/availability"
FLEET = {"id": "fleet", "name": "Fleet", "simulate": {"count": 8, "rate_hz": 20, "seed": 7}}
OBJECT_IDS = [BRIDGE] + [f"{BRIDGE}_fleet_{n}" for n in range(1, 9)]
"""The devices of ``FLEET``'s bridge in Home Assistant's discovery: the bridge and 8 more."""


def _discovery(object_id: str) -> str:
    return f"homeassistant/device/{object_id}/config"


def _states(messages: list[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(m.topic, m.json()) for m in messages if m.topic.endswith("/state")]


@pytest.fixture
def bridge(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[BridgeProcess]:
    process = BridgeProcess(
        tmp_path,
        [mosquitto],
        [],
        bridge={"id": BRIDGE, "name": "Lab Pi"},
        health={"interval": 0.5},
    )
    yield process
    process.close()


def _availability(messages: list[Message]) -> list[bytes]:
    return [m.payload for m in messages if m.topic == AVAILABILITY]


def _wait_online(recorder: Recorder, bridge: BridgeProcess) -> None:
    def online(messages: list[Message]) -> bool:
        assert bridge.running, f"the bridge exited:\n{bridge.log}"
        return b"online" in _availability(messages)

    recorder.wait_for(online, what="availability online")


def _wait_offline(recorder: Recorder, what: str) -> None:
    recorder.wait_for(lambda ms: _availability(ms)[-1:] == [b"offline"], what=what)


def _count(topic_filter: Callable[[str], bool], count: int) -> Callable[[list[Message]], bool]:
    """A predicate that scans each message once (the recorder re-checks on every message)."""
    scanned = seen = 0

    def predicate(messages: list[Message]) -> bool:
        nonlocal scanned, seen
        seen += sum(1 for m in messages[scanned:] if topic_filter(m.topic))
        scanned = len(messages)
        return seen >= count

    return predicate


def test_fleet_discovery_states_and_clean_stop(bridge: BridgeProcess, recorder: Recorder) -> None:
    bridge.configure([FLEET])
    started_ms = time.time() * 1000
    bridge.start()
    _wait_online(recorder, bridge)
    messages = recorder.wait_for(
        lambda ms: (
            {_discovery(o) for o in OBJECT_IDS} <= {m.topic for m in ms}
            and sum(1 for m in ms if m.topic.endswith("/state")) >= 400
        ),
        what="discovery for 9 devices and 400 readings",
    )

    configs = {m.topic: m.json() for m in messages if m.topic.startswith("homeassistant/")}
    bridge_config = configs[_discovery(BRIDGE)]
    bridge_identifier = bridge_config["dev"]["ids"][0]
    assert "via_device" not in bridge_config["dev"]
    assert {"broker", "spool_depth", "spool_dropped", "spool_oldest_age"} <= set(
        bridge_config["cmps"]
    )
    assert bridge_config["cmps"]["broker"]["entity_category"] == "diagnostic"
    for n in range(1, 9):
        config = configs[_discovery(f"{BRIDGE}_fleet_{n}")]
        assert config["dev"]["via_device"] == bridge_identifier
        assert config["o"]["name"] == "iot-monitor"
        assert config["avty"] == [{"t": AVAILABILITY}]
        components = config["cmps"]
        assert set(components) == {"temperature", "humidity", "battery", "status", "location"}
        for component in components.values():
            assert component["p"]
            assert component["unique_id"].startswith(bridge_identifier)
        temperature = components["temperature"]
        assert (temperature["p"], temperature["device_class"]) == ("sensor", "temperature")
        assert (temperature["unit_of_measurement"], temperature["state_class"]) == (
            "°C",
            "measurement",
        )
        assert components["humidity"]["unit_of_measurement"] == "%"
        assert components["battery"]["device_class"] == "battery"
        assert components["status"]["device_class"] == "enum"
        assert components["location"]["p"] == "device_tracker"
        assert temperature["state_topic"] == f"{ROOT}/fleet_{n}/temperature/state"
    unique_ids = [c["unique_id"] for config in configs.values() for c in config["cmps"].values()]
    assert len(unique_ids) == len(set(unique_ids))

    states = _states(messages)
    first_seen: dict[int, tuple[str, dict[str, Any]]] = {}
    for topic, state in states:
        assert set(state) == {"v", "ts", "seq"}
        assert first_seen.setdefault(state["seq"], (topic, state)) == (topic, state)  # a repeat
        assert started_ms - 5_000 <= state["ts"] <= time.time() * 1000 + 1_000
    new_seqs = list(first_seen)
    assert new_seqs == sorted(new_seqs)  # every new reading in seq order, none skipped back
    assert {topic.split("/")[2] for topic, _ in states} >= {f"fleet_{n}" for n in range(1, 9)}

    health = bridge.health()
    assert health["broker"]["port"] == bridge.brokers[0].port
    assert health["broker"]["connected"] is True
    assert health["readings_total"] >= 400

    assert bridge.signal(signal.SIGTERM) == 0
    _wait_offline(recorder, "offline after SIGTERM")
    assert "Availability offline acknowledged" in bridge.log


def test_will_marks_the_bridge_offline_after_sigkill(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    bridge.configure([FLEET])
    bridge.start()
    _wait_online(recorder, bridge)
    assert bridge.signal(signal.SIGKILL) == -signal.SIGKILL
    _wait_offline(recorder, "offline from the will")
    late = Recorder(bridge.brokers[0].port, AVAILABILITY)
    try:
        retained = late.wait_for(bool, what="retained availability")
    finally:
        late.close()
    assert (retained[0].payload, retained[0].retain) == (b"offline", True)


def test_restart_continues_seq_and_removes_a_departed_device(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    garage = {"id": "garage", "simulate": {"count": 1, "rate_hz": 20}}
    bridge.configure([FLEET, garage])
    bridge.start()
    _wait_online(recorder, bridge)
    recorder.wait_for(_count(lambda t: t.endswith("/state"), 200), what="200 readings")
    assert bridge.signal(signal.SIGTERM) == 0
    first_run = {state["seq"]: state for _, state in _states(recorder.messages)}
    assert any(m.topic == _discovery(f"{BRIDGE}_garage_1") for m in recorder.messages)
    recorder.clear()

    bridge.configure([FLEET])  # the garage device left the config
    bridge.start()
    messages = recorder.wait_for(
        lambda ms: (
            any(m.topic == _discovery(f"{BRIDGE}_garage_1") for m in ms)
            and sum(1 for m in ms if m.topic.endswith("/state")) >= 200
        ),
        what="the garage removal and 200 readings",
    )
    removal = [m for m in messages if m.topic == _discovery(f"{BRIDGE}_garage_1")]
    assert [m.payload for m in removal] == [b""]
    second_run = [state for _, state in _states(messages)]
    for state in second_run:
        if state["seq"] in first_run:  # sent again (in flight at the stop): the same reading
            assert first_run[state["seq"]] == state
        else:
            assert state["seq"] > max(first_run)  # never a seq of the first run reused
    assert sum(1 for state in second_run if state["seq"] not in first_run) >= 150


def _temperatures_again(messages: list[Message], since: int) -> set[str]:
    """Temperature topics on which a reading already sent came again (same seq, same
    reading) at ``messages[since:]``."""
    first: dict[int, dict[str, Any]] = {}
    again: set[str] = set()
    for index, message in enumerate(messages):
        if not message.topic.endswith("/temperature/state"):
            continue
        state = message.json()
        if first.setdefault(state["seq"], state) is not state:
            assert first[state["seq"]] == state, (message.topic, state)
            if index >= since:
                again.add(message.topic)
    return again


def test_home_assistant_birth_republishes_discovery_and_states(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    bridge.configure([FLEET])
    bridge.start()
    _wait_online(recorder, bridge)
    # The bridge sends the current states again a second after connecting; only after that
    # can a repeat be Home Assistant's doing.
    recorder.wait_for(
        lambda ms: len(_temperatures_again(ms, 0)) == 8, what="the states sent after connecting"
    )
    birth = len(recorder.messages)
    recorder.publish("homeassistant/status", b"online")
    messages = recorder.wait_for(
        lambda ms: {_discovery(o) for o in OBJECT_IDS} <= {m.topic for m in ms[birth:]},
        what="discovery republished",
    )
    discovery = [m for m in messages[birth:] if m.topic.startswith("homeassistant/device/")]
    assert all(m.json()["cmps"] for m in discovery)
    recorder.wait_for(
        lambda ms: len(_temperatures_again(ms, birth)) == 8,
        what="the current temperature of every fleet device again",
    )


def test_gpio_output_follows_home_assistant_and_input_reports(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    bridge.env["GPIOZERO_PIN_FACTORY"] = "mock"
    boiler = {
        "id": "boiler",
        "name": "Boiler room",
        "sensors": [{"id": "door", "type": "gpio_input", "pin": 17, "device_class": "door"}],
        "outputs": [{"id": "fan", "type": "gpio_output", "pin": 27}],
    }
    bridge.configure([boiler])
    bridge.start()
    _wait_online(recorder, bridge)
    fan_state = f"{ROOT}/boiler/fan/state"
    door_state = f"{ROOT}/boiler/door/state"

    def values(topic: str) -> Callable[[list[Message]], list[Any]]:
        return lambda ms: [m.json()["v"] for m in ms if m.topic == topic]

    recorder.wait_for(lambda ms: values(fan_state)(ms)[-1:] == [False], what="fan off at start")
    messages = recorder.wait_for(lambda ms: bool(values(door_state)(ms)), what="door state")
    assert isinstance(values(door_state)(messages)[0], bool)
    config = next(m.json() for m in messages if m.topic == _discovery(f"{BRIDGE}_boiler"))
    assert config["cmps"]["fan"]["command_topic"] == f"{ROOT}/boiler/fan/set"
    assert config["cmps"]["door"]["p"] == "binary_sensor"
    assert config["cmps"]["door"]["device_class"] == "door"

    recorder.publish(f"{ROOT}/boiler/fan/set", b"ON")
    recorder.wait_for(lambda ms: values(fan_state)(ms)[-1:] == [True], what="fan on")
    recorder.publish(f"{ROOT}/boiler/heater/set", b"ON")  # not configured: ignored
    recorder.publish(f"{ROOT}/boiler/fan/set", b"OFF")
    recorder.wait_for(lambda ms: values(fan_state)(ms)[-1:] == [False], what="fan off")
    assert "unknown_output" in bridge.log


def test_serial_sensor_on_a_pty(bridge: BridgeProcess, recorder: Recorder) -> None:
    device = FakeSerialDevice()
    try:
        dust = {
            "id": "workshop",
            "sensors": [
                {"id": "dust", "type": "serial", "port": device.path, "protocol": "sds011"}
            ],
        }
        bridge.configure([dust])
        bridge.start()
        _wait_online(recorder, bridge)
        device.stream(b"garbage" + sds011_frame(pm25=12.3, pm10=45.6), every=0.05)
        pm25, pm10 = f"{ROOT}/workshop/dust_pm25/state", f"{ROOT}/workshop/dust_pm10/state"
        messages = recorder.wait_for(
            lambda ms: {pm25, pm10} <= {m.topic for m in ms}, what="PM2.5 and PM10 readings"
        )
    finally:
        device.close()
    assert next(m.json()["v"] for m in messages if m.topic == pm25) == 12.3
    assert next(m.json()["v"] for m in messages if m.topic == pm10) == 45.6
    config = next(m.json() for m in messages if m.topic == _discovery(f"{BRIDGE}_workshop"))
    assert config["cmps"]["dust_pm25"]["device_class"] == "pm25"
