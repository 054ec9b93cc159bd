"""Long-term statistics of a bridge's raw sensors, filled in from the stream after outages.

The recorder compiles each hour of the MQTT integration's raw sensors from their states, and
the readings of an outage never become states. ``BridgeHistory`` feeds every stream reading
to ``backfill.HourlyHistory`` and, once the recorder has passed an hour, imports that hour's
exact aggregate as the entity's own statistics (``source: recorder``), with the mean type,
unit class and unit the sensor platform writes. Only the recorder's compile events and
``statistics_runs`` decide when: importing an hour before its compile makes the compile's
insert fail on ``UNIQUE(metadata_id, start_ts)`` and the recorder loses that hour for every
entity. The hours held survive restarts in a small store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from homeassistant.components.recorder.const import DOMAIN as RECORDER_DOMAIN
from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
    process_timestamp,
)
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    UNIT_CLASS_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.components.sensor import SensorStateClass
from homeassistant.components.sensor.const import AMBIGUOUS_UNITS, UNIT_CONVERTERS
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_RECORDER_5MIN_STATISTICS_GENERATED,
    EVENT_RECORDER_HOURLY_STATISTICS_GENERATED,
)
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from sqlalchemy import func

from .backfill import HOUR_MS, HourKey, HourlyHistory, HourSum, chain_sums
from .const import DOMAIN, LOGGER
from .contract.description import BridgeDescription, SensorDescription, SensorKind
from .contract.ids import unique_id
from .contract.readings import Reading, numeric_value

STORE_VERSION: Final = 1
SAVE_DELAY_S: Final = 60.0
"""Seconds between saves of the hours held; Home Assistant writes pending saves at stop."""
SUM_CLASSES: Final = frozenset({SensorStateClass.TOTAL, SensorStateClass.TOTAL_INCREASING})
KEPT_CLASSES: Final = SUM_CLASSES | {SensorStateClass.MEASUREMENT}
"""State classes whose hours are kept: no state class has no long-term statistics, and an
angle's circular mean is not computed here."""

type SensorKey = tuple[str, str]


def sensor_key(device_id: str, sensor_id: str) -> str:
    """The key of a sensor in the hours held: ``device/sensor`` (ids have no ``/``)."""
    return f"{device_id}/{sensor_id}"


def _start(hour_ms: int) -> datetime:
    return datetime.fromtimestamp(hour_ms / 1000, UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one sensor's hours go and how its values are converted on the way."""

    metadata: StatisticMetaData
    convert: Callable[[float], float] | None
    """From the bridge's unit to the statistic's; ``None`` when they are the same."""
    increasing: bool
    """``total_increasing``: a drop is a meter reset."""


def _unit_class(device_class: str | None, unit: str | None) -> str | None:
    """The unit class the sensor platform gives a new statistic (sensor/recorder.py)."""
    if (converter := UNIT_CONVERTERS.get(device_class)) and unit in converter.VALID_UNITS:
        return converter.UNIT_CLASS
    if converter := STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit):
        return converter.UNIT_CLASS
    return None


def _newest_run_ms(hass: HomeAssistant) -> int | None:
    """The start of the recorder's newest statistics run (a recorder executor job)."""
    with session_scope(hass=hass, read_only=True) as session:
        start = session.query(func.max(StatisticsRuns.start)).scalar()
    return None if start is None else _ms(process_timestamp(start))


def _sums_before(hass: HomeAssistant, firsts: dict[str, int]) -> dict[str, HourSum]:
    """The state and sum of the newest hour before ``firsts[statistic_id]`` (an executor job)."""
    before: dict[str, HourSum] = {}
    for statistic_id, hour_ms in firsts.items():
        rows = statistics_during_period(
            hass,
            _start(hour_ms - HOUR_MS * 24 * 7),
            _start(hour_ms),
            {statistic_id},
            "hour",
            None,
            {"state", "sum"},
        ).get(statistic_id)
        if rows and (state := rows[-1].get("state")) is not None:
            before[statistic_id] = HourSum(state=state, sum=rows[-1].get("sum") or 0.0)
    return before


class BridgeHistory:
    """Fills the long-term statistics of one bridge's raw sensors from its stream."""

    def __init__(
        self,
        hass: HomeAssistant,
        bridge_id: str,
        description: Callable[[], BridgeDescription | None],
    ) -> None:
        """Serve the numeric sensors of the bridge's current ``description()``."""
        self.hass = hass
        self.bridge_id = bridge_id
        self._description = description
        self._described: BridgeDescription | None = None
        self._sensors: dict[SensorKey, SensorDescription] = {}
        self.history = HourlyHistory()
        self.active = False
        """Whether the recorder is there; without it nothing is kept."""
        self.skipped = 0
        """Hours not imported: the statistic has a unit the bridge's cannot be converted to."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.history.{bridge_id}"
        )
        self._save_pending = False
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._importing: asyncio.Task[None] | None = None

    async def async_start(self) -> None:
        """Load the hours held before a restart and follow the recorder's compiles."""
        if RECORDER_DOMAIN not in self.hass.config.components:
            return
        if (data := await self._store.async_load()) is not None:
            try:
                self.history = HourlyHistory.from_json(data)
            except (KeyError, TypeError, ValueError) as err:
                LOGGER.warning("Bridge %s: stored hours unreadable (%s)", self.bridge_id, err)
        self.active = True
        for event_type in (
            EVENT_RECORDER_HOURLY_STATISTICS_GENERATED,
            EVENT_RECORDER_5MIN_STATISTICS_GENERATED,
        ):
            self._unsubscribers.append(self.hass.bus.async_listen(event_type, self._async_compiled))
        self._async_schedule_import()

    async def async_stop(self) -> None:
        """Stop following the recorder and save what is held."""
        while self._unsubscribers:
            self._unsubscribers.pop()()
        if self._importing is not None:
            self._importing.cancel()
            self._importing = None
        if self.active:
            self.active = False
            await self._store.async_save(self.history.to_json())

    @callback
    def async_add(self, readings: list[Reading]) -> None:
        """Take one stream message's readings (every one, so the seqs stay contiguous)."""
        if not self.active:
            return
        history = self.history
        sensors = self._kept_sensors()
        now_ms = _ms(dt_util.utcnow())
        for reading in readings:
            kept = (reading.device_id, reading.sensor_id) in sensors
            value = numeric_value(reading.value) if kept else None
            if value is None:
                history.seen(reading.seq)
            else:
                key = sensor_key(reading.device_id, reading.sensor_id)
                history.add(key, reading.ts_ms, reading.seq, value, now_ms)
        self._async_schedule_save()

    @callback
    def _async_schedule_save(self) -> None:
        """Save within ``SAVE_DELAY_S``; a steady stream must not keep postponing it."""
        if not self._save_pending:
            self._save_pending = True
            self._store.async_delay_save(self._data_to_save, SAVE_DELAY_S)

    @callback
    def _data_to_save(self) -> dict[str, Any]:
        self._save_pending = False
        return self.history.to_json()

    @callback
    def _async_compiled(self, _event: Event) -> None:
        """After a compile: import the hours it passed, if a complete hour waits."""
        now_ms = _ms(dt_util.utcnow())
        if any(hour_ms + HOUR_MS <= now_ms for _key, hour_ms in self.history.dirty):
            self._async_schedule_import()

    @callback
    def _async_schedule_import(self) -> None:
        if self._importing is None or self._importing.done():
            self._importing = self.hass.async_create_background_task(
                self.async_import(), f"{DOMAIN} history {self.bridge_id}"
            )

    async def async_import(self) -> None:
        """Import every hour with news that the recorder has passed.

        The hourly compile event comes before its run is committed, so the newest run read
        here can be one short; the 5-minute event after it imports what is left.
        """
        recorder = get_instance(self.hass)
        await recorder.async_db_ready  # a long migration at start
        newest_run_ms = await recorder.async_add_executor_job(_newest_run_ms, self.hass)
        history = self.history
        history.prune(_ms(dt_util.utcnow()))
        by_sensor: dict[str, list[HourKey]] = {}
        for hour_key in history.importable(newest_run_ms):
            by_sensor.setdefault(hour_key[0], []).append(hour_key)
        if not by_sensor:
            return
        targets = await self._async_targets(by_sensor)
        sums = await recorder.async_add_executor_job(
            _sums_before,
            self.hass,
            {
                target.metadata["statistic_id"]: by_sensor[key][0][1]
                for key, target in targets.items()
                if target.metadata["has_sum"]
            },
        )
        for key, target in targets.items():
            self._import(target, by_sensor[key], sums.get(target.metadata["statistic_id"]))
            history.imported(by_sensor[key])
        self._async_schedule_save()

    def _import(self, target: _Target, keys: list[HourKey], before: HourSum | None) -> None:
        """Give the recorder ``keys``' hours, in the statistic's unit (``before`` is in it)."""
        aggregates = [self.history.hours[hour_key] for hour_key in keys]
        convert = target.convert or float
        starts = [_start(hour_ms) for _key, hour_ms in keys]
        statistics: list[StatisticData]
        if target.metadata["has_sum"]:
            sums = chain_sums(
                before,
                convert(aggregates[0].first[2]),
                [convert(aggregate.last[2]) for aggregate in aggregates],
                increasing=target.increasing,
            )
            statistics = [
                {"start": start, "state": hour.state, "sum": hour.sum}
                for start, hour in zip(starts, sums, strict=True)
            ]
        else:
            statistics = [
                {
                    "start": start,
                    "mean": convert(aggregate.mean),
                    "min": convert(aggregate.min),
                    "max": convert(aggregate.max),
                }
                for start, aggregate in zip(starts, aggregates, strict=True)
            ]
        async_import_statistics(self.hass, target.metadata, statistics)

    def _kept_sensors(self) -> dict[SensorKey, SensorDescription]:
        """The numeric sensors with long-term statistics, by key, of the current description."""
        if (description := self._description()) is not self._described:
            self._described = description
            self._sensors = {
                (device.id, sensor.id): sensor
                for device in (() if description is None else description.devices)
                for sensor in device.sensors
                if sensor.kind is SensorKind.NUMERIC and sensor.state_class in KEPT_CLASSES
            }
        return self._sensors

    def _sensor(self, key: str) -> SensorDescription | None:
        device_id, sensor_id = key.split("/", 1)
        return self._kept_sensors().get((device_id, sensor_id))

    async def _async_targets(self, by_sensor: Mapping[str, list[HourKey]]) -> dict[str, _Target]:
        """The statistic of each sensor's raw entity, as the sensor platform describes it.

        Hours of a sensor the bridge no longer has are dropped; those of a sensor whose
        entity MQTT discovery has not made yet wait.
        """
        registry = er.async_get(self.hass)
        sensors: dict[str, tuple[SensorDescription, str]] = {}
        for key in by_sensor:
            if (sensor := self._sensor(key)) is None:
                self.history.forget(key)
            elif entity_id := registry.async_get_entity_id(
                "sensor", "mqtt", unique_id(self.bridge_id, *key.split("/", 1))
            ):
                sensors[key] = (sensor, entity_id)
        existing = await get_instance(self.hass).async_add_executor_job(
            lambda: get_metadata(
                self.hass, statistic_ids={entity_id for _sensor, entity_id in sensors.values()}
            )
        )
        targets: dict[str, _Target] = {}
        for key, (sensor, entity_id) in sensors.items():
            if target := self._target(sensor, entity_id, existing.get(entity_id)):
                targets[key] = target
            else:
                self.skipped += len(by_sensor[key])
                self.history.skip(by_sensor[key])
        return targets

    def _target(
        self,
        sensor: SensorDescription,
        entity_id: str,
        existing: tuple[int, StatisticMetaData] | None,
    ) -> _Target | None:
        """Metadata as the sensor platform writes it; ``None`` for a unit it cannot convert to."""
        has_sum = sensor.state_class in SUM_CLASSES
        mean_type = StatisticMeanType.NONE if has_sum else StatisticMeanType.ARITHMETIC
        if existing is not None:
            unit = existing[1]["unit_of_measurement"]
            unit_class = existing[1]["unit_class"]
        else:
            state = self.hass.states.get(entity_id)
            unit = sensor.unit if state is None else state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            unit_class = _unit_class(sensor.device_class, unit)
        source = AMBIGUOUS_UNITS.get(sensor.unit, sensor.unit)  # "µg/m³" is "μg/m³"
        convert = None
        if unit != source:
            converter = UNIT_CLASS_TO_UNIT_CONVERTER.get(unit_class) if unit_class else None
            if converter is None or not {unit, source} <= converter.VALID_UNITS:
                return None
            convert = converter.converter_factory(source, unit)
        metadata: StatisticMetaData = {
            "mean_type": mean_type,
            "has_sum": has_sum,
            "name": None,
            "source": RECORDER_DOMAIN,
            "statistic_id": entity_id,
            "unit_class": unit_class,
            "unit_of_measurement": unit,
        }
        return _Target(metadata, convert, sensor.state_class == SensorStateClass.TOTAL_INCREASING)

    def diagnostics(self) -> dict[str, Any]:
        """How many hours were back-filled, from how many replayed readings, and what waits."""
        return {"active": self.active, "skipped": self.skipped} | self.history.diagnostics()
