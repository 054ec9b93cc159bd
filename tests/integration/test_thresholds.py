"""Window thresholds in Home Assistant: the subentry flow, the binary sensor, its device
triggers, event and commands, replays and restore, and the blueprint for any action."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint.models import Blueprint, DomainBlueprints
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_get_device_automations,
    mock_restore_cache_with_extra_data,
)

from custom_components.iot_monitor.binary_sensor import (
    ATTR_LAST_COMMAND,
    ATTR_LOWER_LIMIT,
    ATTR_UPPER_LIMIT,
    ATTR_VALUE,
    threshold_unique_id,
)
from custom_components.iot_monitor.const import (
    CONF_CLEAR_ARGUMENTS,
    CONF_CLEAR_COMMAND,
    CONF_COOLDOWN,
    CONF_HYSTERESIS,
    CONF_LOWER,
    CONF_REACTION,
    CONF_SENSOR,
    CONF_STATISTIC,
    CONF_TRIP_ARGUMENTS,
    CONF_TRIP_COMMAND,
    CONF_UPPER,
    DOMAIN,
    EVENT_THRESHOLD,
    SUBENTRY_THRESHOLD,
)
from custom_components.iot_monitor.device_trigger import async_get_triggers
from custom_components.iot_monitor.sensor import ATTR_WINDOW_END, ATTR_WINDOW_START
from tests.integration.bridge_entry import (
    SLIDING_5S,
    T0_MS,
    add_bridge_entry,
    async_pass_throttle,
    async_setup_bridge,
    fire_reading,
    mqtt_device,
    state_of,
)
from tests.integration.command_bridge import CommandBridge
from tests.integration.retained_broker import RetainedBroker
from tests.support.bridge_fleet import FleetBridge

DEVICE = "fleet_1"
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
THRESHOLD: dict[str, Any] = {
    CONF_SENSOR: f"{DEVICE}/temperature",
    CONF_STATISTIC: "mean",
    CONF_LOWER: 10.0,
    CONF_UPPER: 30.0,
    CONF_HYSTERESIS: 2.0,
    CONF_REACTION: {CONF_COOLDOWN: 60.0},
}
TRIP = {"settings": {"health": {"interval": 10}}}
CLEAR = {"settings": {"health": {"interval": 30}}}


def add_threshold(entry: MockConfigEntry, hass: HomeAssistant, **changes: Any) -> ConfigSubentry:
    subentry = ConfigSubentry(
        data=MappingProxyType(THRESHOLD | changes),
        subentry_type=SUBENTRY_THRESHOLD,
        title="Fleet 1: Mean temperature",
        unique_id=None,
    )
    hass.config_entries.async_add_subentry(entry, subentry)
    return subentry


@pytest.fixture
def options() -> dict[str, Any]:
    """5 s sliding windows without lateness: with readings 10 s apart, each reading is a
    window of its own, judged as it arrives. Tests of tumbling windows parametrize this."""
    return SLIDING_5S


@pytest.fixture
def threshold_changes() -> dict[str, Any]:
    """Changes to ``THRESHOLD``; parametrize a test with it."""
    return {}


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    published: RetainedBroker,
    bridge: FleetBridge,
    options: dict[str, Any],
    threshold_changes: dict[str, Any],
) -> MockConfigEntry:
    """The bridge's entry with one threshold, set up."""
    entry = add_bridge_entry(hass, bridge, options)
    add_threshold(entry, hass, **threshold_changes)
    return await async_setup_bridge(hass, published, bridge, entry=entry)


def threshold_entity_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    (subentry_id,) = entry.subentries
    unique_id = threshold_unique_id(entry.unique_id or "", subentry_id)
    entity_id = er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


def attributes_of(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


def threshold_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    entity = er.async_get(hass).async_get(threshold_entity_id(hass, entry))
    assert entity is not None
    assert entity.device_id is not None
    device = dr.async_get(hass).async_get(entity.device_id)
    assert device is not None
    return device


class Windows:
    """Feeds readings 10 s apart: in sliding 5 s windows each is a window's only reading.

    Event time starts at T0 (``ts_ms`` moves it); each reading is 10 s later than the one
    before, and the state-write throttle passes after each (1.1 s of Home Assistant's clock).
    """

    def __init__(
        self, hass: HomeAssistant, bridge: FleetBridge, freezer: FrozenDateTimeFactory
    ) -> None:
        self.hass, self.bridge, self.freezer = hass, bridge, freezer
        self.ts_ms = T0_MS
        self.seq = 0

    async def feed(self, *values: float) -> None:
        for value in values:
            self.seq += 1
            fire_reading(self.hass, self.bridge, DEVICE, "temperature", value, self.ts_ms, self.seq)
            self.ts_ms += 10_000
            await async_pass_throttle(self.hass, self.freezer)


@pytest.fixture
def windows(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge, freezer: FrozenDateTimeFactory
) -> Windows:
    """Readings from T0 on, with Home Assistant's clock at T0: every window is live."""
    freezer.move_to(T0)
    return Windows(hass, bridge, freezer)


# ----- the subentry flow ------------------------------------------------------------------


async def start_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_THRESHOLD), context={"source": "user"}
    )
    return dict(result)


@pytest.mark.parametrize(
    ("changes", "errors", "placeholder"),
    [
        ({CONF_LOWER: None, CONF_UPPER: None}, {"base": "no_limit"}, None),
        ({CONF_LOWER: 30.0}, {"base": "lower_not_below_upper"}, None),
        ({CONF_HYSTERESIS: 10.0}, {"base": "hysteresis_too_wide"}, None),
        (
            {CONF_REACTION: {CONF_COOLDOWN: 60, CONF_TRIP_ARGUMENTS: TRIP}},
            {CONF_TRIP_COMMAND: "arguments_without_command"},
            None,
        ),
        (
            {
                CONF_REACTION: {
                    CONF_COOLDOWN: 60,
                    CONF_TRIP_COMMAND: "set_config",
                    CONF_TRIP_ARGUMENTS: {"settings": [10]},
                }
            },
            {CONF_TRIP_ARGUMENTS: "trip_arguments_invalid"},
            ("trip_problem", "settings: expected a JSON object"),
        ),
        (
            {
                CONF_REACTION: {
                    CONF_COOLDOWN: 60,
                    CONF_CLEAR_COMMAND: "set_output",
                    CONF_CLEAR_ARGUMENTS: [1],
                }
            },
            {CONF_CLEAR_ARGUMENTS: "clear_arguments_invalid"},
            ("clear_problem", "expected an object"),
        ),
    ],
)
async def test_flow_refuses_what_cannot_work(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    changes: dict[str, Any],
    errors: dict[str, str],
    placeholder: tuple[str, str] | None,
) -> None:
    result = await start_flow(hass, entry)
    assert result["type"] is FlowResultType.FORM
    user_input = {key: value for key, value in (THRESHOLD | changes).items() if value is not None}

    result = dict(
        await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    if placeholder is not None:
        assert result["description_placeholders"][placeholder[0]] == placeholder[1]
    assert len(entry.subentries) == 1  # the fixture's, nothing added


@pytest.mark.parametrize("threshold_changes", [{CONF_UPPER: 40.0}])
async def test_flow_adds_a_threshold_without_a_reload(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    coordinator = entry.runtime_data
    result = await start_flow(hass, entry)
    options = result["data_schema"].schema[CONF_SENSOR].config["options"]
    assert {"value": f"{DEVICE}/temperature", "label": "Fleet 1: Temperature"} in options
    assert f"{DEVICE}/status" not in {option["value"] for option in options}  # not numeric
    user_input = THRESHOLD | {
        CONF_STATISTIC: "max",
        CONF_REACTION: {
            CONF_COOLDOWN: 30,
            CONF_TRIP_COMMAND: "set_config",
            CONF_TRIP_ARGUMENTS: TRIP,
        },
    }

    result = dict(
        await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Fleet 1: Max temperature"
    assert entry.runtime_data is coordinator  # not reloaded
    added = next(s for s in entry.subentries.values() if s.title == result["title"])
    assert added.data == user_input
    unique_id = threshold_unique_id(bridge.bridge_id, added.subentry_id)
    entity_id = er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, unique_id)
    assert entity_id == "binary_sensor.fleet_1_max_temperature_out_of_range"
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes["device_class"] == "problem"

    # Removing the subentry removes its entity and device.
    registered = er.async_get(hass).async_get(entity_id)
    assert registered is not None
    assert registered.device_id is not None
    device_id = registered.device_id
    assert hass.config_entries.async_remove_subentry(entry, added.subentry_id)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is None
    assert dr.async_get(hass).async_get(device_id) is None


async def test_flow_reconfigures_a_threshold(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    entity_id = threshold_entity_id(hass, entry)
    await windows.feed(31.0)
    assert state_of(hass, entity_id) == STATE_ON
    (subentry,) = entry.subentries.values()

    result = dict(await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id))
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"].schema
    suggested = {str(key): key.description["suggested_value"] for key in schema if key.description}
    assert suggested[CONF_UPPER] == 30.0
    result = dict(
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], THRESHOLD | {CONF_UPPER: 11.0}
        )
    )
    assert result["errors"] == {"base": "hysteresis_too_wide"}
    events = async_capture_events(hass, EVENT_THRESHOLD)

    result = dict(
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], THRESHOLD | {CONF_UPPER: 35.0}
        )
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data[CONF_UPPER] == 35.0
    # Reloaded: the restored window (31.0) judged by the new limits is back in range, and
    # saying so now is no news to act on.
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes[ATTR_UPPER_LIMIT] == 35.0
    assert state.attributes[ATTR_VALUE] == 31.0
    assert events == []


async def test_flow_needs_the_bridge_loaded(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config_entries.async_unload(entry.entry_id)
    result = await start_flow(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "bridge_not_ready"


# ----- the binary sensor --------------------------------------------------------------------


async def test_hysteresis_above_and_below(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows, bridge: FleetBridge
) -> None:
    entity_id = threshold_entity_id(hass, entry)
    events = async_capture_events(hass, EVENT_THRESHOLD)
    seen = []
    for value in (25.0, 30.0, 30.5, 29.0, 28.0, 27.9, 10.0, 9.5, 11.0, 12.0, 12.1):
        await windows.feed(value)
        seen.append(state_of(hass, entity_id))
    on, off = STATE_ON, STATE_OFF
    assert seen == [off, off, on, on, on, off, off, on, on, on, off]
    assert [(e.data["type"], e.data["value"], e.data["limit"]) for e in events] == [
        ("above", 30.5, 30.0),
        ("in_range", 27.9, 30.0),
        ("below", 9.5, 10.0),
        ("in_range", 12.1, 10.0),
    ]
    device = threshold_device(hass, entry)
    assert {e.data["device_id"] for e in events} == {device.id}
    assert {e.data["entity_id"] for e in events} == {entity_id}
    # The device of the threshold hangs off the sensor's device.
    assert device.via_device_id == mqtt_device(hass, bridge, DEVICE).id
    assert device.name == "Fleet 1: Mean temperature"

    # The attributes tell which window set the status: the 11th reading, (95 s, 100 s].
    attributes = attributes_of(hass, entity_id)
    assert attributes[ATTR_VALUE] == 12.1
    assert (attributes[ATTR_LOWER_LIMIT], attributes[ATTR_UPPER_LIMIT]) == (10.0, 30.0)
    assert attributes[ATTR_WINDOW_START] == (T0 + timedelta(seconds=95)).isoformat()
    assert attributes[ATTR_WINDOW_END] == (T0 + timedelta(seconds=100)).isoformat()
    assert ATTR_LAST_COMMAND not in attributes


@pytest.mark.parametrize("options", [{}])  # 10 s tumbling windows, 60 s lateness
async def test_a_replay_updates_the_state_but_fires_nothing(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    """Windows that closed long before now arrive after an outage: history, not news."""
    entity_id = threshold_entity_id(hass, entry)
    events = async_capture_events(hass, EVENT_THRESHOLD)
    windows.freezer.move_to(T0 + timedelta(hours=1))
    states = []
    for value in (40.0, 40.0, 20.0, 20.0):
        await windows.feed(value)  # each reading closes the window before it
        states.append(state_of(hass, entity_id))
    assert states == [STATE_UNKNOWN, STATE_ON, STATE_ON, STATE_OFF]
    assert events == []
    attributes = attributes_of(hass, entity_id)
    assert attributes[ATTR_WINDOW_END] == (T0 + timedelta(seconds=30)).isoformat()

    # Caught up: the windows of the last minute are news again.
    windows.ts_ms = T0_MS + 3_600_000
    await windows.feed(40.0, 40.0)
    assert state_of(hass, entity_id) == STATE_ON
    assert [event.data["type"] for event in events] == ["above"]


async def test_a_status_restored_after_a_restart_is_kept(
    hass: HomeAssistant,
    published: RetainedBroker,
    bridge: FleetBridge,
    request: pytest.FixtureRequest,
) -> None:
    """29.0 is inside the hysteresis band: a restored problem stays one, not cleared by an
    empty start."""
    entry = add_bridge_entry(hass, bridge, SLIDING_5S)
    subentry = add_threshold(entry, hass)
    entity_id = (
        er.async_get(hass)
        .async_get_or_create(
            "binary_sensor",
            DOMAIN,
            threshold_unique_id(bridge.bridge_id, subentry.subentry_id),
            config_entry=entry,
            config_subentry_id=subentry.subentry_id,
            object_id_base="kept",
        )
        .entity_id
    )
    crossing = {"status": "above", "value": 31.0, "start_ms": T0_MS - 5_000, "end_ms": T0_MS}
    last_command = {"command": "set_config", "sent": T0.isoformat(), "result": {"changed": []}}
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, STATE_ON),
                {"crossing": crossing, "newest_end_ms": T0_MS, "last_command": last_command},
            )
        ],
    )
    await async_setup_bridge(hass, published, bridge, entry=entry)
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes[ATTR_VALUE] == 31.0
    assert state.attributes[ATTR_LAST_COMMAND] == last_command

    freezer: FrozenDateTimeFactory = request.getfixturevalue("freezer")  # after MQTT subscribed
    freezer.move_to(T0)
    events = async_capture_events(hass, EVENT_THRESHOLD)
    windows = Windows(hass, bridge, freezer)
    windows.ts_ms = T0_MS - 60_000  # older than the restored window: ignored
    await windows.feed(20.0)
    windows.ts_ms = T0_MS + 10_000
    await windows.feed(29.0)
    assert state_of(hass, entity_id) == STATE_ON
    await windows.feed(27.0)
    assert state_of(hass, entity_id) == STATE_OFF
    assert [event.data["type"] for event in events] == ["in_range"]


async def test_a_reload_keeps_the_status(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    entity_id = threshold_entity_id(hass, entry)
    await windows.feed(31.0)
    before = hass.states.get(entity_id)
    assert before is not None
    assert before.state == STATE_ON

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    after = hass.states.get(entity_id)
    assert after is not None
    assert (after.state, after.attributes) == (before.state, before.attributes)
    await windows.feed(29.0)  # inside the band, after a reload too
    assert state_of(hass, entity_id) == STATE_ON


@pytest.mark.parametrize("availability", ["online"])
async def test_unavailable_while_the_bridge_is_offline(
    hass: HomeAssistant, entry: MockConfigEntry, published: RetainedBroker, bridge: FleetBridge
) -> None:
    entity_id = threshold_entity_id(hass, entry)
    assert state_of(hass, entity_id) == STATE_UNKNOWN
    published.publish(bridge.topics.availability, "offline")
    await hass.async_block_till_done()
    assert state_of(hass, entity_id) == "unavailable"


@pytest.mark.parametrize("threshold_changes", [{CONF_STATISTIC: "stdev"}])
async def test_a_window_without_the_statistic_decides_nothing(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    """One reading per window has no standard deviation."""
    await windows.feed(100.0, 100.0)
    assert state_of(hass, threshold_entity_id(hass, entry)) == STATE_UNKNOWN


async def test_a_sensor_described_later_is_followed(
    hass: HomeAssistant, broker: RetainedBroker, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Thresholds are set up before the bridge's description says which sensors exist."""
    bridge = FleetBridge(count=1)
    entry = add_bridge_entry(hass, bridge, SLIDING_5S)
    add_threshold(entry, hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity_id = threshold_entity_id(hass, entry)
    assert threshold_device(hass, entry).via_device_id is None  # no MQTT device yet

    broker.publish_bridge(bridge)
    await hass.async_block_till_done()
    freezer.move_to(T0)
    await Windows(hass, bridge, freezer).feed(31.0)
    assert state_of(hass, entity_id) == STATE_ON


# ----- device triggers ----------------------------------------------------------------------


@pytest.mark.parametrize("threshold_changes", [{CONF_LOWER: None}])
async def test_device_triggers(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    device = threshold_device(hass, entry)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = sorted(trigger["type"] for trigger in triggers if trigger["domain"] == DOMAIN)
    assert ours == ["above", "in_range"]  # no lower limit, no trigger for it

    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "triggers": {
                        "trigger": "device",
                        "domain": DOMAIN,
                        "device_id": device.id,
                        "type": kind,
                    },
                    "actions": {"event": "threshold_test", "event_data": {"kind": kind}},
                }
                for kind in ("above", "in_range")
            ]
        },
    )
    fired = async_capture_events(hass, "threshold_test")
    await windows.feed(31.0, 29.0, 27.0, 31.0)
    assert [event.data["kind"] for event in fired] == ["above", "in_range", "above"]

    windows.freezer.move_to(T0 + timedelta(hours=1))  # what follows is a replay
    await windows.feed(20.0, 35.0)
    assert state_of(hass, threshold_entity_id(hass, entry)) == STATE_ON
    assert len(fired) == 3


async def test_no_triggers_for_other_devices(
    hass: HomeAssistant, entry: MockConfigEntry, bridge: FleetBridge
) -> None:
    assert await async_get_triggers(hass, mqtt_device(hass, bridge, DEVICE).id) == []
    assert await async_get_triggers(hass, "no such device") == []


# ----- commands to the bridge ---------------------------------------------------------------


REACTING = {
    CONF_REACTION: {
        CONF_TRIP_COMMAND: "set_config",
        CONF_TRIP_ARGUMENTS: TRIP,
        CONF_CLEAR_COMMAND: "set_config",
        CONF_CLEAR_ARGUMENTS: CLEAR,
        CONF_COOLDOWN: 60.0,
    }
}


@pytest.mark.parametrize("threshold_changes", [REACTING])
async def test_commands_once_per_cooldown_with_the_bridge_s_answer(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    windows: Windows,
    command_bridge: CommandBridge,
) -> None:
    """Commands go out in background tasks: the test waits for those too."""
    entity_id = threshold_entity_id(hass, entry)
    await windows.feed(31.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert command_bridge.sent() == [{"command": "set_config", **TRIP}]
    assert command_bridge.handler.config.health.interval == 10.0
    last = attributes_of(hass, entity_id)[ATTR_LAST_COMMAND]
    assert last["command"] == "set_config"
    assert last["result"]["changed"] == ["health.interval"]

    # Flapping inside the cooldown sends nothing; the last status's command follows after it.
    await windows.feed(27.0, 31.0, 27.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(command_bridge.sent()) == 1
    windows.freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert command_bridge.sent()[1:] == [{"command": "set_config", **CLEAR}]
    assert command_bridge.handler.config.health.interval == 30.0

    # A replayed trip sends nothing.
    windows.freezer.move_to(T0 + timedelta(hours=1))
    await windows.feed(35.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, entity_id) == STATE_ON
    assert len(command_bridge.sent()) == 2


@pytest.mark.parametrize(
    "threshold_changes",
    [
        {
            CONF_REACTION: {
                CONF_TRIP_COMMAND: "set_config",
                CONF_TRIP_ARGUMENTS: {"settings": {"no_such_setting": 1}},
                CONF_COOLDOWN: 0,
            }
        }
    ],
)
async def test_a_refused_command_shows_why(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    windows: Windows,
    command_bridge: CommandBridge,
) -> None:
    await windows.feed(31.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(threshold_entity_id(hass, entry))
    assert state is not None
    last = state.attributes[ATTR_LAST_COMMAND]
    assert "result" not in last
    assert "refused set_config" in last["error"]


# ----- the blueprint -----------------------------------------------------------------------


FOLDER = Path(__file__).resolve().parents[2] / "blueprints" / "automation"
PATH = "iot_monitor/threshold_action.yaml"
IMPORT_URL = "https://github.com/iot-monitor/iot-monitor/blob/main/blueprints/automation/" + PATH


def test_blueprint_loads_and_validates() -> None:
    blueprint = Blueprint(
        load_yaml_dict(FOLDER / PATH),
        path=PATH,
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    assert blueprint.validate() is None  # this Home Assistant is new enough
    assert blueprint.metadata["source_url"] == IMPORT_URL
    assert set(blueprint.inputs) == {"threshold", "trip_actions", "clear_actions", "cooldown"}


@pytest.fixture
def repository_blueprints() -> Iterator[None]:
    """Home Assistant reads automation blueprints from the repository's folder."""
    with patch.object(
        DomainBlueprints, "blueprint_folder", new_callable=PropertyMock, return_value=FOLDER
    ):
        yield


def automation_config(entity_id: str, cooldown: float) -> dict[str, Any]:
    return {
        "automation": {
            "alias": "Fan",
            "use_blueprint": {
                "path": PATH,
                "input": {
                    "threshold": entity_id,
                    "trip_actions": [{"event": "fan", "event_data": {"on": True}}],
                    "clear_actions": [{"event": "fan", "event_data": {"on": False}}],
                    "cooldown": cooldown,
                },
            },
        }
    }


@pytest.mark.usefixtures("repository_blueprints")
async def test_an_automation_from_the_blueprint(
    hass: HomeAssistant, entry: MockConfigEntry, windows: Windows
) -> None:
    entity_id = threshold_entity_id(hass, entry)
    assert await async_setup_component(hass, "automation", automation_config(entity_id, 60))
    assert state_of(hass, "automation.fan") == STATE_ON
    fan = async_capture_events(hass, "fan")

    await windows.feed(31.0)
    await hass.async_block_till_done()
    assert [event.data["on"] for event in fan] == [True]

    await windows.feed(27.0, 31.0)  # within the cooldown: skipped
    assert len(fan) == 1
    windows.freezer.tick(timedelta(seconds=60))
    windows.ts_ms += 60_000  # the readings keep up with the clock
    await windows.feed(27.0)
    assert [event.data["on"] for event in fan] == [True, False]

    windows.freezer.move_to(T0 + timedelta(hours=1))  # a replay runs nothing
    await windows.feed(35.0)
    assert len(fan) == 2
