"""The bridge as a real process (``python -m iot_monitor_bridge run``) over a real Mosquitto.

A plain MQTT client records what crosses the wire; the assertions are on those bytes:
Home Assistant discovery, availability (clean stop and the broker's will after SIGKILL),
every reading and its ``seq`` on the stream, the calm state topics, the republish on
``homeassistant/status``, device removal, GPIO outputs driven over MQTT (gpiozero's mock
pins) and a serial sensor on a pty.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from iot_monitor_bridge.contract.readings import Reading
from iot_monitor_bridge.runtime.publisher import STATES_DELAY_S
from tests.support.bridge_process import BridgeProcess
from tests.support.fake_serial import FakeSerialDevice, sds011_frame
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt_client import Message, Recorder, first_copies, stream_readings

BRIDGE = "lab-pi"
ROOT = f"iot_monitor/{BRIDGE}"
AVAILABILITY = f"{ROOT}/availability"
FLEET = {"id": "fleet", "name": "Fleet", "simulate": {"count": 8, "rate_hz": 20, "seed": 7}}
OBJECT_IDS = [BRIDGE] + [f"{BRIDGE}_fleet_{n}" for n in range(1, 9)]
"""The devices of ``FLEET``'s bridge in Home Assistant's discovery: the bridge and 8 more."""
FLEET_SENSORS = ("temperature", "humidity", "battery", "status", "location")
FLEET_STATE_TOPICS = {f"{ROOT}/fleet_{n}/{s}/state" for n in range(1, 9) for s in FLEET_SENSORS}


def _discovery(object_id: str) -> str:
    return f"homeassistant/device/{object_id}/config"


def _states(messages: list[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(m.topic, m.json()) for m in messages if m.topic.endswith("/state")]


def _state_key(topic: str) -> tuple[str, str]:
    """``(device, sensor)`` of a state topic ``<root>/<bridge>/<device>/<sensor>/state``."""
    device, sensor = topic.split("/")[2:4]
    return device, sensor


def _device_id(config: dict[str, Any]) -> str:
    """The bridge's id of the device in a discovery config (``dev.ids``: ``iot_monitor/<bridge>``
    for the bridge itself, ``iot_monitor/<bridge>/<device>`` for the others)."""
    parts = config["dev"]["ids"][0].split("/")
    return parts[2] if len(parts) > 2 else "bridge"


def _assert_states_are_readings(
    states: list[tuple[str, dict[str, Any]]], readings: dict[int, Reading]
) -> None:
    """Every state is a reading the bridge has (on the stream or left in its spool), on its
    own sensor's topic, and a state topic's ``seq`` never goes down."""
    last: dict[str, int] = {}
    for topic, state in states:
        assert set(state) == {"v", "ts", "seq"}
        reading = readings[state["seq"]]
        assert (reading.device_id, reading.sensor_id) == _state_key(topic)
        assert (reading.value, reading.ts_ms) == (state["v"], state["ts"])
        assert state["seq"] >= last.get(topic, -1), f"{topic} went back to seq {state['seq']}"
        last[topic] = state["seq"]


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


def test_fleet_discovery_stream_states_and_clean_stop(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    bridge.configure([FLEET])
    started_ms = time.time() * 1000
    started = time.monotonic()
    bridge.start()
    _wait_online(recorder, bridge)
    recorder.wait_for(
        lambda ms: {_discovery(o) for o in OBJECT_IDS} <= {m.topic for m in ms},
        what="discovery for 9 devices",
    )
    # 2000 readings: about 50 of each fleet sensor at 20 Hz (and the bridge's own).
    recorder.wait_for_readings(lambda rs: len(rs) >= 2000, what="2000 readings on the stream")
    messages = recorder.wait_for(bool)
    elapsed_s = time.monotonic() - started

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
        assert set(components) == set(FLEET_SENSORS)
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

    # The stream: every reading, each new one in seq order, batched, of the configured sensors.
    stream = [m for m in messages if m.topic == f"{ROOT}/stream"]
    assert not any(m.retain for m in stream)
    readings = stream_readings(stream)
    assert len(stream) < len(readings)  # readings of one loop turn share a message
    components = {(_device_id(c), sensor) for c in configs.values() for sensor in c["cmps"]}
    for reading in readings:
        assert (reading.device_id, reading.sensor_id) in components, reading
        assert started_ms - 5_000 <= reading.ts_ms <= time.time() * 1000 + 1_000
    new_seqs = [reading.seq for reading in first_copies(readings)]
    assert new_seqs == sorted(new_seqs)  # every new reading in seq order, none skipped back
    assert {reading.device_id for reading in readings} >= {f"fleet_{n}" for n in range(1, 9)}

    # The state topics: not retained, calm. A numeric sensor's state came at its first
    # reading, with the newest reading a second after the connect and then at most once per
    # 10 s, while the stream carries each of its 20 readings a second.
    states = _states(messages)
    assert not any(m.retain for m in messages if m.topic.endswith("/state"))
    assert {topic for topic, _ in states} >= FLEET_STATE_TOPICS
    for n in range(1, 9):
        topic = f"{ROOT}/fleet_{n}/temperature/state"
        distinct = {state["seq"] for t, state in states if t == topic}
        assert len(distinct) <= 2 + elapsed_s // 10, (topic, len(distinct), elapsed_s)
        on_stream = [r for r in readings if (r.device_id, r.sensor_id) == _state_key(topic)]
        assert len(on_stream) >= 10 * len(distinct)

    health = bridge.health()
    assert health["broker"]["port"] == bridge.brokers[0].port
    assert health["broker"]["connected"] is True
    assert health["readings_total"] >= 2000

    # "Uptime" is the bridge process's, "Host uptime" the machine's; both durations.
    for sensor_id, name in (("uptime", "Uptime"), ("host_uptime", "Host uptime")):
        component = bridge_config["cmps"][sensor_id]
        assert (component["name"], component["device_class"]) == (name, "duration")
        assert (component["unit_of_measurement"], component["entity_category"]) == (
            "s",
            "diagnostic",
        )
        assert "state_class" not in component
    uptimes = recorder.wait_for(
        lambda ms: (
            {f"{ROOT}/bridge/uptime/state", f"{ROOT}/bridge/host_uptime/state"}
            <= {m.topic for m in ms}
        ),
        what="both uptimes",
    )
    running_s = time.time() - started_ms / 1000
    bridge_uptime = [m.json()["v"] for m in uptimes if m.topic == f"{ROOT}/bridge/uptime/state"]
    assert all(0 <= value <= running_s + 1 for value in bridge_uptime), (bridge_uptime, running_s)
    host_uptime = [m.json()["v"] for m in uptimes if m.topic == f"{ROOT}/bridge/host_uptime/state"]
    since_boot = time.time() - psutil.boot_time()
    assert all(since_boot - running_s - 2 <= value <= since_boot + 1 for value in host_uptime)

    assert bridge.signal(signal.SIGTERM) == 0
    _wait_offline(recorder, "offline after SIGTERM")
    assert "Availability offline acknowledged" in bridge.log
    everything = recorder.stream_readings() + bridge.spool_readings()
    _assert_states_are_readings(states, {r.seq: r for r in first_copies(everything)})


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
    recorder.wait_for_readings(lambda rs: len(rs) >= 200, what="200 readings")
    assert bridge.signal(signal.SIGTERM) == 0
    _wait_offline(recorder, "offline after SIGTERM")  # the bridge's last message
    first_run = {reading.seq: reading for reading in first_copies(recorder.stream_readings())}
    assert any(m.topic == _discovery(f"{BRIDGE}_garage_1") for m in recorder.messages)
    recorder.clear()

    bridge.configure([FLEET])  # the garage device left the config
    bridge.start()
    recorder.wait_for_readings(lambda rs: len(rs) >= 200, what="200 readings")
    messages = recorder.wait_for(
        lambda ms: any(m.topic == _discovery(f"{BRIDGE}_garage_1") for m in ms),
        what="the garage removal",
    )
    removal = [m for m in messages if m.topic == _discovery(f"{BRIDGE}_garage_1")]
    assert [m.payload for m in removal] == [b""]
    second_run = stream_readings(messages)
    for reading in second_run:
        if reading.seq in first_run:  # sent again (in flight at the stop): the same reading
            assert first_run[reading.seq] == reading
        else:
            assert reading.seq > max(first_run)  # never a seq of the first run reused
    assert sum(1 for reading in second_run if reading.seq not in first_run) >= 150


def test_home_assistant_birth_republishes_discovery_and_the_newest_states(
    bridge: BridgeProcess, recorder: Recorder
) -> None:
    # A throttle of an hour: after its first state, a fleet sensor's state topic gets the
    # newest reading again only when the bridge re-sends every state.
    calm = {**FLEET, "simulate": {**FLEET["simulate"], "state": {"throttle": "1h"}}}
    bridge.configure([calm])
    bridge.start()
    _wait_online(recorder, bridge)
    recorder.wait_for(
        lambda ms: {m.topic for m in ms} >= FLEET_STATE_TOPICS, what="every fleet sensor's state"
    )
    # The bridge re-sends every state a second after connecting; only after that can one be
    # Home Assistant's doing.
    time.sleep(STATES_DELAY_S + 1.0)
    recorder.publish("homeassistant/status", b"online")
    messages = recorder.wait_for(
        lambda ms: any(m.topic == "homeassistant/status" for m in ms), what="the birth message"
    )
    # The recorder gets its own birth message in the broker's order: the marker.
    birth = next(i for i, m in enumerate(messages) if m.topic == "homeassistant/status")
    newest_before: dict[tuple[str, str], int] = {}
    for reading in stream_readings(messages[:birth]):
        key = (reading.device_id, reading.sensor_id)
        newest_before[key] = max(newest_before.get(key, -1), reading.seq)
    topics_before = {m.topic for m in messages[:birth] if m.topic.endswith("/state")}

    messages = recorder.wait_for(
        lambda ms: {_discovery(o) for o in OBJECT_IDS} <= {m.topic for m in ms[birth:]},
        what="discovery republished",
    )
    discovery = [m for m in messages[birth:] if m.topic.startswith("homeassistant/device/")]
    assert all(m.json()["cmps"] for m in discovery)
    messages = recorder.wait_for(
        lambda ms: topics_before <= {m.topic for m in ms[birth:] if m.topic.endswith("/state")},
        timeout=STATES_DELAY_S + 10,
        what="the newest state of every sensor and output again",
    )
    for topic in topics_before:
        again = next(m.json() for m in messages[birth:] if m.topic == topic)
        # The newest reading the bridge had, never an older one (nor the one sent before).
        assert again["seq"] >= newest_before.get(_state_key(topic), -1), topic
    fleet_again = [
        m.json()["seq"]
        for m in messages[birth:]
        if m.topic in FLEET_STATE_TOPICS and not m.topic.endswith("/status/state")
    ]
    assert len(fleet_again) == len(set(fleet_again)) == 8 * 4  # once each, throttled for 1 h

    assert bridge.signal(signal.SIGTERM) == 0
    _wait_offline(recorder, "offline after SIGTERM")
    everything = recorder.stream_readings() + bridge.spool_readings()
    _assert_states_are_readings(_states(messages), {r.seq: r for r in first_copies(everything)})


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
