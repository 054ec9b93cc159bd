"""Rolling statistics of the bridge's numeric sensors."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, override

from homeassistant.components.sensor import (
    DEVICE_CLASS_STATE_CLASSES,
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.typing import StateType
from homeassistant.util.enum import try_parse_enum

from .const import (
    ENABLED_BY_DEFAULT,
    STAT_COUNT,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    STAT_RATE,
    STAT_STDEV,
)
from .contract.description import SensorDescription
from .coordinator import BridgeCoordinator, IotMonitorConfigEntry, statistic_unique_id
from .entity import IotMonitorEntity
from .statistics import WindowResult
from .tracking import SensorTrack

PARALLEL_UPDATES = 0

ATTR_WINDOW_START: Final = "window_start"
ATTR_WINDOW_END: Final = "window_end"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

type NativeValue = StateType | date | datetime | Decimal
type Measure = tuple[SensorDeviceClass | None, str | None]
"""Device class and unit of a statistic, derived from its source sensor."""


def _device_class(sensor: SensorDescription) -> SensorDeviceClass | None:
    return try_parse_enum(SensorDeviceClass, sensor.device_class)


def _as_source(sensor: SensorDescription) -> Measure:
    return _device_class(sensor), sensor.unit


def _spread(sensor: SensorDescription) -> Measure:
    """A standard deviation is a difference: a temperature's is a temperature delta."""
    device_class = _device_class(sensor)
    if device_class is SensorDeviceClass.TEMPERATURE:
        return SensorDeviceClass.TEMPERATURE_DELTA, sensor.unit
    return None, sensor.unit


def _per_minute(sensor: SensorDescription) -> Measure:
    return None, f"{sensor.unit}/min" if sensor.unit else None


def _dimensionless(_sensor: SensorDescription) -> Measure:
    return None, None


def utc_iso(epoch_ms: int) -> str | None:
    """Epoch milliseconds as ISO 8601 in UTC, exactly; ``None`` past the year 9999.

    A bridge whose clock is far off must not break the entity.
    """
    try:
        return (_EPOCH + timedelta(milliseconds=epoch_ms)).isoformat()
    except OverflowError:
        return None


@dataclass(frozen=True, kw_only=True)
class StatisticEntityDescription(SensorEntityDescription):
    """One statistic of a window; completed per source sensor by ``describe``."""

    value_fn: Callable[[WindowResult], float | int | None]
    measure_fn: Callable[[SensorDescription], Measure]
    source_precision: bool = True
    always_measurement: bool = False
    """Counts are measurements even when the source sensor has no state class."""


STATISTICS: dict[str, StatisticEntityDescription] = {
    description.key: description
    for description in (
        StatisticEntityDescription(
            key=STAT_MEAN,
            translation_key=STAT_MEAN,
            value_fn=lambda result: result.mean,
            measure_fn=_as_source,
        ),
        StatisticEntityDescription(
            key=STAT_MIN,
            translation_key=STAT_MIN,
            value_fn=lambda result: result.min,
            measure_fn=_as_source,
        ),
        StatisticEntityDescription(
            key=STAT_MAX,
            translation_key=STAT_MAX,
            value_fn=lambda result: result.max,
            measure_fn=_as_source,
        ),
        StatisticEntityDescription(
            key=STAT_STDEV,
            translation_key=STAT_STDEV,
            value_fn=lambda result: result.stdev,
            measure_fn=_spread,
        ),
        StatisticEntityDescription(
            key=STAT_COUNT,
            translation_key=STAT_COUNT,
            value_fn=lambda result: result.count,
            measure_fn=_dimensionless,
            source_precision=False,
            suggested_display_precision=0,
            always_measurement=True,
        ),
        StatisticEntityDescription(
            key=STAT_RATE,
            translation_key=STAT_RATE,
            value_fn=lambda result: result.rate_of_change,
            measure_fn=_per_minute,
            source_precision=False,
        ),
    )
}


def sensor_subject(
    sensor: SensorDescription, language: str, device_class_names: Mapping[str, str]
) -> str:
    """Return what a statistic's name says it is of, in the user's language.

    A sensor the bridge names by its device class takes Home Assistant's translated device
    class name ("Suhu"); others keep the bridge's name. In English the statistic comes first
    in sentence case ("Mean temperature"), so an initial capital is lowered unless the word
    is an acronym ("Mean CPU usage"). Without a name or a translated device class, the device
    class or else the sensor's id stands in ("Mean wind speed", never "Mean None").
    """
    name = sensor.name
    if name is None:
        key = f"component.sensor.entity_component.{sensor.device_class}.name"
        name = device_class_names.get(key) or (sensor.device_class or sensor.id).replace("_", " ")
    if language.split("-", maxsplit=1)[0] == "en" and name[1:2].islower():
        name = name[:1].lower() + name[1:]
    return name


def describe(
    statistic: StatisticEntityDescription, sensor: SensorDescription
) -> StatisticEntityDescription:
    """The statistic's description for one source sensor: unit, classes, precision."""
    device_class, unit = statistic.measure_fn(sensor)
    state_class = (
        SensorStateClass.MEASUREMENT
        if statistic.always_measurement or sensor.state_class is not None
        else None
    )
    if (
        device_class is not None
        and state_class is not None
        and state_class not in DEVICE_CLASS_STATE_CLASSES.get(device_class, {state_class})
    ):
        device_class = None  # e.g. the mean of an energy total is no energy total
    return replace(
        statistic,
        device_class=device_class,
        native_unit_of_measurement=unit,
        state_class=state_class,
        suggested_display_precision=sensor.precision
        if statistic.source_precision
        else statistic.suggested_display_precision,
        entity_category=EntityCategory.DIAGNOSTIC if sensor.diagnostic else None,
        # The bridge's own health has many numeric diagnostics: their statistics are opt-in.
        entity_registry_enabled_default=statistic.key in ENABLED_BY_DEFAULT
        and not sensor.diagnostic,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the statistics known now and those the bridge announces later."""
    coordinator = entry.runtime_data
    language = hass.config.language
    device_class_names = await async_get_translations(
        hass, language, "entity_component", ["sensor"]
    )

    @callback
    def async_add_statistics(tracks: Iterable[SensorTrack]) -> None:
        async_add_entities(
            StatisticSensor(
                coordinator,
                track,
                describe(STATISTICS[statistic], track.sensor),
                sensor_subject(track.sensor, language, device_class_names),
            )
            for track in tracks
            for statistic in coordinator.statistics
        )

    async_add_statistics(coordinator.tracks.values())
    entry.async_on_unload(
        async_dispatcher_connect(hass, coordinator.signal_sensors_added, async_add_statistics)
    )


class StatisticSensor(IotMonitorEntity, RestoreSensor):
    """One statistic of one sensor's current window.

    Keeps the value from before a restart for as long as there is no window since then.
    """

    entity_description: StatisticEntityDescription
    _restored: NativeValue = None
    # They change with every window: recording them would store a new attribute set each time.
    _unrecorded_attributes = frozenset({ATTR_WINDOW_START, ATTR_WINDOW_END})

    def __init__(
        self,
        coordinator: BridgeCoordinator,
        track: SensorTrack,
        description: StatisticEntityDescription,
        subject: str,
    ) -> None:
        """Show ``description``'s statistic of ``track``; ``subject`` names the sensor."""
        super().__init__(
            coordinator,
            track.identifier,
            statistic_unique_id(
                coordinator.bridge_id, track.device_id, track.sensor.id, description.key
            ),
        )
        self.entity_description = description
        self._attr_translation_placeholders = {"sensor": subject}
        self._track = track

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if last is not None and last.native_unit_of_measurement == self.native_unit_of_measurement:
            self._restored = last.native_value
        self.async_on_remove(self._track.listeners.add(self.async_write_ha_state))

    @property
    @override
    def native_value(self) -> NativeValue:
        if (result := self._track.result) is None:
            return self._restored
        value = self.entity_description.value_fn(result)
        # Readings near the float limit can spread or change beyond it; a sensor state
        # must be finite.
        return value if value is None or math.isfinite(value) else None

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The span of event time the value covers; none before the first window since loading.

        Tumbling windows cover ``[start, end)``, the sliding window ``(start, end]``.
        """
        if (result := self._track.result) is None:
            return None
        return {
            ATTR_WINDOW_START: utc_iso(result.start_ms),
            ATTR_WINDOW_END: utc_iso(result.end_ms),
        }
