"""Statistics sensors, fed the bridge's own description and its stream of readings."""

from __future__ import annotations

import json
import logging

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
from msgspec.structs import replace
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
    mock_restore_cache_with_extra_data,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_monitor.const import (
    ALL_STATISTICS,
    CONF_LATENESS,
    CONF_STATISTICS,
    CONF_THROTTLE,
    CONF_WINDOW_KIND,
    CONF_WINDOW_LENGTH,
    DOMAIN,
    LOGGER,
    STAT_COUNT,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    STAT_RATE,
    STAT_STDEV,
)
from custom_components.iot_monitor.contract.description import SensorDescription, SensorKind
from custom_components.iot_monitor.coordinator import bridge_unique_id, statistic_unique_id
from custom_components.iot_monitor.sensor import (
    ATTR_WINDOW_END,
    ATTR_WINDOW_START,
    STATISTICS,
    describe,
)
from iot_monitor_bridge.contract.readings import Reading
from tests.integration.bridge_entry import (
    SLIDING_5S,
    T0_MS,
    add_bridge_entry,
    async_pass_throttle,
    async_setup_bridge,
    coordinator_of,
    fire_reading,
    fire_series,
    fire_stream,
    mqtt_device,
    own_entities,
    raw_entity_id,
    statistic_entity_id,
    subscribed_again,
)
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

DEVICE = "fleet_1"
TEN_READINGS = [20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0]


@pytest.fixture
def bridge() -> FleetBridge:
    """Two simulated devices keep the entity count small."""
    return FleetBridge(count=2)


def temperature(hass: HomeAssistant, bridge: FleetBridge, statistic: str) -> State:
    state = hass.states.get(statistic_entity_id(hass, bridge, DEVICE, "temperature", statistic))
    assert state is not None
    return state


async def test_statistics_entities_join_the_mqtt_devices(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    registry = er.async_get(hass)
    device = mqtt_device(hass, bridge, DEVICE)
    for statistic in ALL_STATISTICS:
        entity_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", statistic)
        entity = registry.async_get(entity_id)
        assert entity is not None
        assert entity.device_id == device.id
        enabled = statistic in (STAT_MEAN, STAT_MIN, STAT_MAX)
        assert (entity.disabled_by is None) is enabled, statistic

    # Every numeric sensor has statistics; text, enum and location sensors have none.
    numeric = {(d.id, s.id) for d in bridge.devices for s in d.sensors if s.kind == "numeric"}
    means = {e.unique_id for e in own_entities(hass, entry) if e.unique_id.endswith("/mean")}
    assert means == {statistic_unique_id(bridge.bridge_id, d, s, "mean") for d, s in numeric}
    assert len(numeric) == 2 * 3 + 7 + 3

    # Those of the bridge's own diagnostics are diagnostic and opt-in.
    cpu = registry.async_get(statistic_entity_id(hass, bridge, "bridge", "cpu_usage", STAT_MEAN))
    assert cpu is not None
    assert cpu.entity_category is EntityCategory.DIAGNOSTIC
    assert cpu.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert cpu.device_id == mqtt_device(hass, bridge, "bridge").id

    # Devices belong to the MQTT integration: this one registers none of its own.
    assert dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id) == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_statistics_of_one_device(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """Units and classes follow the source sensor; values after one complete window."""
    for seq, sensor in enumerate(("temperature", "humidity", "battery")):
        fire_series(hass, bridge, DEVICE, sensor, [*TEN_READINGS, 0.0], first_seq=seq * 100)
    await async_pass_throttle(hass, freezer)

    device = mqtt_device(hass, bridge, DEVICE)
    entities = sorted(
        (e for e in own_entities(hass, entry) if e.device_id == device.id),
        key=lambda e: e.entity_id,
    )
    assert len(entities) == 3 * len(ALL_STATISTICS)
    for entity in entities:
        assert entity == snapshot(name=f"{entity.entity_id}-entry")
        assert hass.states.get(entity.entity_id) == snapshot(name=f"{entity.entity_id}-state")


async def test_tumbling_window_statistics(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, freezer: FrozenDateTimeFactory
) -> None:
    """The default 10 s tumbling window shows once a reading past its end arrives."""
    fire_series(hass, bridge, DEVICE, "temperature", TEN_READINGS)
    await async_pass_throttle(hass, freezer)
    unknown = temperature(hass, bridge, STAT_MEAN)
    assert unknown.state == STATE_UNKNOWN
    assert not {ATTR_WINDOW_START, ATTR_WINDOW_END} & unknown.attributes.keys()  # no window yet

    fire_reading(hass, bridge, DEVICE, "temperature", 99.0, 10_000, 11)
    await async_pass_throttle(hass, freezer)
    assert float(temperature(hass, bridge, STAT_MEAN).state) == pytest.approx(24.5)
    assert float(temperature(hass, bridge, STAT_MIN).state) == 20.0
    assert float(temperature(hass, bridge, STAT_MAX).state) == 29.0
    mean = temperature(hass, bridge, STAT_MEAN)
    assert mean.attributes[ATTR_UNIT_OF_MEASUREMENT] == "°C"
    # [0 s, 10 s) of event time; the readings are stamped from the epoch on.
    assert mean.attributes[ATTR_WINDOW_START] == "1970-01-01T00:00:00+00:00"
    assert mean.attributes[ATTR_WINDOW_END] == "1970-01-01T00:00:10+00:00"

    fire_series(hass, bridge, DEVICE, "temperature", [30.0, 31.0], start_ms=20_500, first_seq=12)
    await async_pass_throttle(hass, freezer)
    mean = temperature(hass, bridge, STAT_MEAN)
    assert float(mean.state) == 99.0  # [10 s, 20 s) held the one reading at 10 s
    assert mean.attributes[ATTR_WINDOW_START] == "1970-01-01T00:00:10+00:00"
    assert mean.attributes[ATTR_WINDOW_END] == "1970-01-01T00:00:20+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "entry")
@pytest.mark.parametrize("options", [SLIDING_5S])
async def test_sliding_window_statistics(
    hass: HomeAssistant, bridge: FleetBridge, freezer: FrozenDateTimeFactory
) -> None:
    fire_series(hass, bridge, DEVICE, "temperature", TEN_READINGS)
    await async_pass_throttle(hass, freezer)
    # (4 s, 9 s]: the last five readings, 25..29, over 4 s of event time.
    assert float(temperature(hass, bridge, STAT_MEAN).state) == pytest.approx(27.0)
    assert float(temperature(hass, bridge, STAT_MIN).state) == 25.0
    assert float(temperature(hass, bridge, STAT_MAX).state) == 29.0
    assert int(temperature(hass, bridge, STAT_COUNT).state) == 5
    assert float(temperature(hass, bridge, STAT_STDEV).state) == pytest.approx(1.5811388)
    assert float(temperature(hass, bridge, STAT_RATE).state) == pytest.approx(60.0)
    for statistic in ALL_STATISTICS:
        attributes = temperature(hass, bridge, statistic).attributes
        assert attributes[ATTR_WINDOW_START] == "1970-01-01T00:00:04+00:00", statistic
        assert attributes[ATTR_WINDOW_END] == "1970-01-01T00:00:09+00:00", statistic


@pytest.mark.parametrize("options", [SLIDING_5S])
async def test_window_times_are_not_recorded(
    recorder_mock: Recorder, hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """They change with every window: the recorder keeps the state and its other attributes."""
    start = dt_util.utcnow()
    fire_reading(hass, bridge, DEVICE, "temperature", 21.5, T0_MS, 1)  # written at once
    await hass.async_block_till_done()
    mean = temperature(hass, bridge, STAT_MEAN)
    assert mean.attributes[ATTR_WINDOW_START] == "2026-11-28T07:59:55+00:00"
    assert mean.attributes[ATTR_WINDOW_END] == "2026-11-28T08:00:00+00:00"

    await async_wait_recording_done(hass)
    history = await hass.async_add_executor_job(
        get_significant_states, hass, start, None, [mean.entity_id]
    )

    recorded = [state for state in history[mean.entity_id] if isinstance(state, State)]
    assert recorded[-1].state == "21.5"
    for state in recorded:
        assert ATTR_UNIT_OF_MEASUREMENT in state.attributes
        assert not {ATTR_WINDOW_START, ATTR_WINDOW_END} & state.attributes.keys()


async def test_window_attributes_are_translated(hass: HomeAssistant) -> None:
    """The entity dialog names them in both languages, for every statistic."""
    for language, names in (
        ("en", ("Window start", "Window end")),
        ("id", ("Awal jendela", "Akhir jendela")),
    ):
        strings = await async_get_translations(hass, language, "entity", [DOMAIN])
        for statistic in ALL_STATISTICS:
            prefix = f"component.{DOMAIN}.entity.sensor.{statistic}.state_attributes"
            shown = (
                strings[f"{prefix}.{ATTR_WINDOW_START}.name"],
                strings[f"{prefix}.{ATTR_WINDOW_END}.name"],
            )
            assert shown == names, (language, statistic)


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    "options", [{CONF_WINDOW_LENGTH: 1.0, CONF_LATENESS: 0.0, CONF_THROTTLE: 1.0}]
)
async def test_throttled_writes_keep_the_last_value(
    hass: HomeAssistant, bridge: FleetBridge, freezer: FrozenDateTimeFactory
) -> None:
    """At most one write per period; what arrived during it is written when it ends.

    The first change after a quiet period is written on the loop's next pass, so a burst of
    messages that arrived together is written once, with its newest window.
    """
    entity_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)
    other_id = statistic_entity_id(hass, bridge, DEVICE, "humidity", STAT_MEAN)
    writes = async_capture_events(hass, "state_changed")

    def mean_writes(entity: str = entity_id) -> list[str]:
        return [e.data["new_state"].state for e in writes if e.data["entity_id"] == entity]

    # Each reading completes the 1 s window of the one before it.
    fire_series(hass, bridge, DEVICE, "temperature", [10.0, 20.0, 30.0, 40.0])
    await hass.async_block_till_done()
    assert mean_writes() == ["30.0"]  # one write for three windows, the newest

    # Inside the period: nothing is written, for this sensor or another of the bridge.
    fire_series(hass, bridge, DEVICE, "temperature", [50.0, 60.0], start_ms=4000, first_seq=5)
    fire_series(hass, bridge, DEVICE, "humidity", [1.0, 2.0], start_ms=4000, first_seq=7)
    await hass.async_block_till_done()
    assert mean_writes() == ["30.0"]
    assert mean_writes(other_id) == []
    await async_pass_throttle(hass, freezer)
    assert mean_writes() == ["30.0", "50.0"]  # at the period's end, both at once
    assert mean_writes(other_id) == ["1.0"]

    await async_pass_throttle(hass, freezer)
    assert mean_writes() == ["30.0", "50.0"]  # nothing new: no write


async def test_late_and_duplicate_readings_are_counted_and_dropped(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, freezer: FrozenDateTimeFactory
) -> None:
    fire_series(hass, bridge, DEVICE, "temperature", TEN_READINGS, start_ms=100_000)
    fire_reading(hass, bridge, DEVICE, "temperature", 99.0, 110_000, 11)
    fire_reading(hass, bridge, DEVICE, "temperature", -50.0, 101_000, 2)  # seq already seen
    fire_reading(hass, bridge, DEVICE, "temperature", -50.0, 30_000, 12)  # behind the watermark
    fire_reading(hass, bridge, DEVICE, "temperature", 21.0, 100_500, 13)  # late, but in time
    await async_pass_throttle(hass, freezer)

    assert float(temperature(hass, bridge, STAT_MIN).state) == 20.0
    assert float(temperature(hass, bridge, STAT_MEAN).state) == pytest.approx(266.0 / 11)
    windows = coordinator_of(entry).diagnostics()["windows"]
    assert windows[f"{DEVICE}/temperature"] | {"result": None} == {
        "accepted": 12,
        "late": 1,
        "duplicates": 1,
        "result": None,
    }
    assert windows[f"{DEVICE}/temperature"]["result"]["count"] == 11


async def test_bad_stream_messages_are_counted_not_raised(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message that is no stream message is dropped whole; a reading that is no number is
    dropped alone. Both are counted, logged once per burst, and the stream goes on."""
    topic = bridge.topics.stream
    good = '["fleet_1", "temperature", 21.0, 1000, 1]'
    for payload in (
        "not json",
        "",
        '{"v": 21.0, "ts": 1000, "seq": 1}',  # a state payload, not a stream message
        good,  # a reading, not an array of them
        '[["fleet_1", "temperature", 21.0]]',
        '[["fleet_1", "temperature", 21.0, 1000]]',  # no seq
        '[["fleet_1", "temperature", 21.0, 1000, -1]]',  # negative seq
        '[["fleet_1", "temperature", 21.0, -1000, 1]]',  # negative time
        '[["fleet_1", "temperature", 21.0, "1000", 1]]',
        '[["fleet_1", "temperature", 21.0, 1000, 1.5]]',
        '[["fleet_1", 7, 21.0, 1000, 1]]',
        '[["fleet_1", "temperature", NaN, 1000, 1]]',
        '[["fleet_1", "temperature", 1e999, 1000, 1]]',
        f'[{good}, ["fleet_1", "temperature", 22.0, 2000, -2]]',  # one bad reading spoils all
        "[" * 100_000,
        b"\xff\xfe",
    ):
        async_fire_mqtt_message(hass, topic, payload)
    # Well-formed, but no number: each is dropped, the numbers beside them are not.
    for seq, value in enumerate(("21.0", True, None, [21.0], {"v": 21.0}), start=1):
        fire_reading(hass, bridge, DEVICE, "temperature", value, 1000 * seq, seq)
    # Readings of sensors without statistics and of unknown ones are no fault.
    fire_reading(hass, bridge, DEVICE, "status", "ok", 1000, 6)
    fire_reading(hass, bridge, DEVICE, "location", {"latitude": 1.0, "longitude": 2.0}, 1000, 7)
    fire_reading(hass, bridge, "fleet_99", "temperature", 21.0, 1000, 8)
    await async_pass_throttle(hass, freezer)

    coordinator = coordinator_of(entry)
    assert coordinator.diagnostics()["faults"] == {"invalid_stream": 16, "non_numeric": 5}
    assert coordinator.readings_received == 8  # those of the well-formed messages only
    assert coordinator.tracks[(DEVICE, "temperature")].window.accepted == 0
    assert temperature(hass, bridge, STAT_MEAN).state == STATE_UNKNOWN
    # Logged once per burst, not once per payload.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("invalid_stream" in r.getMessage() for r in warnings) == 1
    assert sum("non_numeric" in r.getMessage() for r in warnings) == 1

    # Good readings still count afterwards, also beside a bad value in the same message.
    batch = [
        Reading(DEVICE, "temperature", value, n * 1000, 10 + n)
        for n, value in enumerate(TEN_READINGS)
    ]
    batch.insert(3, Reading(DEVICE, "temperature", "error", 3500, 9))
    fire_stream(hass, bridge, [*batch, Reading(DEVICE, "temperature", 0.0, 10_000, 20)])
    await async_pass_throttle(hass, freezer)
    assert float(temperature(hass, bridge, STAT_MEAN).state) == pytest.approx(24.5)
    assert coordinator.diagnostics()["faults"] == {"invalid_stream": 16, "non_numeric": 6}


async def test_one_stream_message_feeds_the_window_of_every_sensor_in_it(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bridge: FleetBridge,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The bridge batches the readings of all its sensors, interleaved in ``seq`` order."""
    values = {  # 11 readings a sensor, one a second: a full 10 s window and one past it
        (device, sensor): [base + offset + n for n in range(10)] + [0.0]
        for device, base in ((DEVICE, 0.0), ("fleet_2", 100.0))
        for sensor, offset in (("temperature", 20.0), ("humidity", 40.0), ("battery", 80.0))
    } | {("bridge", "cpu_usage"): [float(n) for n in range(10)] + [0.0]}
    batch: list[Reading] = []
    for n in range(11):
        for (device, sensor), series in values.items():
            batch.append(Reading(device, sensor, series[n], n * 1000, len(batch) + 1))
        batch.append(Reading(DEVICE, "status", "ok", n * 1000, len(batch) + 1))
    assert len(batch) == 11 * 8

    fire_stream(hass, bridge, batch)
    await async_pass_throttle(hass, freezer)

    coordinator = coordinator_of(entry)
    assert coordinator.readings_received == len(batch)
    assert coordinator.diagnostics()["faults"] == {}
    for (device, sensor), series in values.items():
        track = coordinator.tracks[(device, sensor)]
        assert (track.window.accepted, track.window.duplicates) == (11, 0), (device, sensor)
        result = track.result
        assert result is not None, (device, sensor)
        assert (result.count, result.min, result.max) == (10, series[0], series[9])
        assert result.mean == pytest.approx(series[0] + 4.5)
    mean = hass.states.get(statistic_entity_id(hass, bridge, "fleet_2", "battery", STAT_MEAN))
    assert mean is not None
    assert float(mean.state) == pytest.approx(184.5)

    # A replay (the batch in flight when the connection dropped, sent again with what
    # followed, then everything once more): every seq already seen is a duplicate, the new
    # readings count.
    in_flight = batch[-len(values) - 1 :]
    later = [
        Reading(device, sensor, 1000.0, 11_000, len(batch) + n)
        for n, (device, sensor) in enumerate(values, start=1)
    ]
    fire_stream(hass, bridge, in_flight + later)
    fire_stream(hass, bridge, batch)
    await async_pass_throttle(hass, freezer)
    for key in values:
        track = coordinator.tracks[key]
        assert (track.window.accepted, track.window.duplicates) == (12, 12), key
    assert float(temperature(hass, bridge, STAT_MEAN).state) == pytest.approx(24.5)  # unchanged
    assert coordinator.readings_received == 2 * len(batch) + len(in_flight) + len(later)
    assert coordinator.diagnostics()["faults"] == {}


async def test_the_bridge_has_one_broker_sensor_the_raw_one(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    """The bridge's own MQTT "Broker" sensor shows the broker in use; the integration adds
    no second one (its "Broker in use" is gone)."""
    bridge_device = mqtt_device(hass, bridge, "bridge")
    on_bridge = er.async_entries_for_device(
        er.async_get(hass), bridge_device.id, include_disabled_entities=True
    )
    brokers = [e for e in on_bridge if e.unique_id.endswith("/broker")]
    assert [(e.platform, e.unique_id) for e in brokers] == [
        ("mqtt", f"iot_monitor/{bridge.bridge_id}/bridge/broker")
    ]
    assert brokers[0].entity_category is EntityCategory.DIAGNOSTIC
    assert not any(e.platform == DOMAIN and "/broker" in e.unique_id for e in on_bridge)
    assert not any(e.unique_id.endswith("/broker") for e in own_entities(hass, entry))


async def test_entities_of_a_former_version_are_removed(
    hass: HomeAssistant, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """The "Broker in use" sensor of earlier versions, and statistics of sensors the bridge
    no longer has, leave the registry once the bridge's description is read."""
    entry = add_bridge_entry(hass, bridge)
    registry = er.async_get(hass)
    former = {
        registry.async_get_or_create("sensor", DOMAIN, unique_id, config_entry=entry).entity_id
        for unique_id in (
            bridge_unique_id(bridge.bridge_id, "broker"),
            statistic_unique_id(bridge.bridge_id, DEVICE, "pressure", STAT_MEAN),
        )
    }
    kept = registry.async_get_or_create(
        "sensor",
        DOMAIN,
        statistic_unique_id(bridge.bridge_id, DEVICE, "temperature", STAT_MEAN),
        config_entry=entry,
    ).entity_id

    await async_setup_bridge(hass, published, bridge, entry=entry)

    assert {entity_id for entity_id in former if registry.async_get(entity_id)} == set()
    assert all(hass.states.get(entity_id) is None for entity_id in former)
    assert registry.async_get(kept) is not None
    assert hass.states.get(kept) is not None


async def test_last_values_restored(
    hass: HomeAssistant,
    published: RetainedBroker,
    bridge: FleetBridge,
    request: pytest.FixtureRequest,
) -> None:
    """After a restart the last statistics show until a new window completes."""
    entry = add_bridge_entry(hass, bridge)
    registry = er.async_get(hass)
    entity_ids = {}
    for statistic in (STAT_MEAN, STAT_MAX):
        unique_id = statistic_unique_id(bridge.bridge_id, DEVICE, "temperature", statistic)
        entity_ids[statistic] = registry.async_get_or_create(
            "sensor", DOMAIN, unique_id, config_entry=entry, object_id_base=f"t_{statistic}"
        ).entity_id
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_ids[STAT_MEAN], "21.5"),
                {"native_value": 21.5, "native_unit_of_measurement": "°C"},
            ),
            (  # stored under another unit: not shown as °C
                State(entity_ids[STAT_MAX], "80.6"),
                {"native_value": 80.6, "native_unit_of_measurement": "°F"},
            ),
        ],
    )
    await async_setup_bridge(hass, published, bridge, entry=entry)

    assert hass.states.get(entity_ids[STAT_MEAN]).state == "21.5"
    # Which window the restored value covered is not known.
    assert ATTR_WINDOW_START not in hass.states.get(entity_ids[STAT_MEAN]).attributes
    assert hass.states.get(entity_ids[STAT_MAX]).state == STATE_UNKNOWN

    freezer: FrozenDateTimeFactory = request.getfixturevalue("freezer")  # after MQTT subscribed
    fire_series(hass, bridge, DEVICE, "temperature", [*TEN_READINGS, 0.0])
    await async_pass_throttle(hass, freezer)
    assert float(hass.states.get(entity_ids[STAT_MEAN]).state) == pytest.approx(24.5)
    assert hass.states.get(entity_ids[STAT_MEAN]).attributes[ATTR_WINDOW_START] == (
        "1970-01-01T00:00:00+00:00"
    )
    assert float(hass.states.get(entity_ids[STAT_MAX]).state) == 29.0


async def test_only_selected_statistics(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """Statistics deselected in the options lose their entities, enabled or not."""
    assert {e.unique_id.rsplit("/", 1)[-1] for e in own_entities(hass, entry)} >= {"stdev", "mean"}

    result = await hass.config_entries.options.async_init(entry.entry_id)
    async with subscribed_again(hass, published, bridge):  # reloaded, it reads it again
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_WINDOW_KIND: "tumbling",
                CONF_WINDOW_LENGTH: 10,
                CONF_LATENESS: 60,
                CONF_STATISTICS: [STAT_MEAN, STAT_MAX],
                CONF_THROTTLE: 1,
            },
        )
    assert entry.options[CONF_STATISTICS] == [STAT_MEAN, STAT_MAX]
    assert coordinator_of(entry).statistics == (STAT_MEAN, STAT_MAX)  # reloaded with the options
    remaining = {e.unique_id for e in own_entities(hass, entry)}
    assert {
        u for u in remaining if u.endswith(("/min", "/stdev", "/count", "/rate_of_change"))
    } == set()
    assert statistic_unique_id(bridge.bridge_id, DEVICE, "temperature", STAT_MAX) in remaining


async def test_devices_and_sensors_come_and_go(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker
) -> None:
    """A new description adds entities at once; a device that left takes its entities along."""
    grown = FleetBridge(count=3)
    published.publish_bridge(grown)
    await hass.async_block_till_done()
    for statistic in ALL_STATISTICS:
        entity_id = statistic_entity_id(hass, grown, "fleet_3", "humidity", statistic)
        entity = er.async_get(hass).async_get(entity_id)
        assert entity is not None
        assert entity.device_id == mqtt_device(hass, grown, "fleet_3").id
    assert hass.states.get(statistic_entity_id(hass, grown, "fleet_3", "humidity", STAT_MEAN))
    assert ("fleet_3", "battery") in coordinator_of(entry).tracks

    shrunk = FleetBridge(count=2)
    published.publish(shrunk.description_topic, shrunk.description_payload())
    await hass.async_block_till_done()
    assert not [e for e in own_entities(hass, entry) if "/fleet_3/" in e.unique_id]
    assert ("fleet_3", "battery") not in coordinator_of(entry).tracks
    assert [e for e in own_entities(hass, entry) if "/fleet_2/" in e.unique_id]


async def test_entities_find_devices_discovered_later(
    hass: HomeAssistant, described: RetainedBroker, bridge: FleetBridge
) -> None:
    """Statistics can exist before MQTT discovery made the device; they join it when it does."""
    entry = await async_setup_bridge(hass, described, bridge)
    entity_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None
    assert entity.device_id is None

    for topic, payload in bridge.discovery_payloads().items():
        described.publish(topic, payload)
    await hass.async_block_till_done()
    device = mqtt_device(hass, bridge, DEVICE)
    assert er.async_get(hass).async_get(entity_id).device_id == device.id
    disabled = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_STDEV)
    assert er.async_get(hass).async_get(disabled).device_id == device.id
    assert all(e.device_id is not None for e in own_entities(hass, entry))


async def test_changed_sensor_reloads_the_entry(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """A unit or class cannot change under an entity: the entry starts afresh with the new one."""
    assert temperature(hass, bridge, STAT_MEAN).attributes[ATTR_DEVICE_CLASS] == "temperature"
    coordinator = coordinator_of(entry)
    description = json.loads(bridge.description_payload())
    fleet_1 = next(d for d in description["devices"] if d["id"] == DEVICE)
    fleet_1["sensors"][0]["device_class"] = None
    async with subscribed_again(hass, published, bridge):
        published.publish(bridge.description_topic, json.dumps(description))
        await hass.async_block_till_done()

    assert coordinator_of(entry) is not coordinator
    mean = temperature(hass, bridge, STAT_MEAN)
    assert ATTR_DEVICE_CLASS not in mean.attributes
    assert mean.attributes[ATTR_UNIT_OF_MEASUREMENT] == "°C"


def test_statistics_of_a_total_are_measurements() -> None:
    """The mean of an energy total is no energy total: the class goes, the unit stays."""
    energy = SensorDescription(
        id="energy",
        name=None,
        kind=SensorKind.NUMERIC,
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
        precision=2,
    )
    mean = describe(STATISTICS[STAT_MEAN], energy)
    assert mean.device_class is None
    assert mean.native_unit_of_measurement == "kWh"
    assert mean.state_class is SensorStateClass.MEASUREMENT
    assert mean.suggested_display_precision == 2
    rate = describe(STATISTICS[STAT_RATE], energy)
    assert rate.native_unit_of_measurement == "kWh/min"
    assert rate.suggested_display_precision is None
    unitless = describe(STATISTICS[STAT_RATE], replace(energy, unit=None, state_class=None))
    assert unitless.native_unit_of_measurement is None
    assert unitless.state_class is None
    count = describe(STATISTICS[STAT_COUNT], replace(energy, state_class=None))
    assert count.state_class is SensorStateClass.MEASUREMENT  # counts always are


async def test_sensors_come_and_go_on_a_device(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    """A sensor added to or removed from a device changes its entities without a reload."""
    coordinator = coordinator_of(entry)
    description = json.loads(bridge.description_payload())
    fleet_1 = next(d for d in description["devices"] if d["id"] == DEVICE)
    pressure = dict(fleet_1["sensors"][0]) | {
        "id": "pressure",
        "name": "Pressure",
        "unit": "hPa",
        "device_class": "pressure",
    }
    fleet_1["sensors"] = [s for s in fleet_1["sensors"] if s["id"] != "humidity"] + [pressure]
    published.publish(bridge.description_topic, json.dumps(description))
    await hass.async_block_till_done()

    assert coordinator_of(entry) is coordinator
    assert (DEVICE, "pressure") in coordinator.tracks
    assert (DEVICE, "humidity") not in coordinator.tracks
    mean = hass.states.get(statistic_entity_id(hass, bridge, DEVICE, "pressure", STAT_MEAN))
    assert mean is not None
    assert mean.attributes[ATTR_UNIT_OF_MEASUREMENT] == "hPa"
    unique_ids = {e.unique_id for e in own_entities(hass, entry)}
    assert not {u for u in unique_ids if u.startswith(f"{bridge.bridge_id}/{DEVICE}/humidity/")}
    assert (
        statistic_unique_id(bridge.bridge_id, "fleet_2", "humidity", "stdev") in unique_ids
    )  # other devices keep theirs


async def test_unavailable_while_the_bridge_is_offline(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    published: RetainedBroker,
    bridge: FleetBridge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like the bridge's raw sensors; logged once when it goes and once when it returns."""
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    mean_id = statistic_entity_id(hass, bridge, DEVICE, "temperature", STAT_MEAN)
    raw_id = raw_entity_id(hass, bridge, DEVICE, "temperature")

    def states() -> tuple[str, str]:
        mean, raw = hass.states.get(mean_id), hass.states.get(raw_id)
        assert mean is not None
        assert raw is not None
        return mean.state, raw.state

    # Nothing said yet: not known to be offline (MQTT's own entities wait for "online").
    assert states()[0] == STATE_UNKNOWN
    for availability in ("online", "offline", "offline", "online"):
        published.publish(bridge.topics.availability, availability)
        await hass.async_block_till_done()
        if availability == "offline":
            assert states() == (STATE_UNAVAILABLE, STATE_UNAVAILABLE)
    assert states() == (STATE_UNKNOWN, STATE_UNKNOWN)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert messages.count(f"Bridge {bridge.bridge_id} is offline") == 1
    assert messages.count(f"Bridge {bridge.bridge_id} is back online") == 1
