"""Build the drivers a configuration asks for.

Driver modules are imported only when a configuration uses them, so a bridge that runs
only the simulated fleet never loads gpiozero or pyserial (memory on a small Pi).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from iot_monitor_bridge.config import (
    BridgeConfig,
    DeviceConfig,
    Ds18b20Config,
    GpioInputConfig,
    Hcsr04Config,
    Mcp3008Config,
    SensorConfig,
    SerialConfig,
    StateConfig,
)
from iot_monitor_bridge.drivers.base import DeviceSet, DriverError, OutputDriver, SensorDriver
from iot_monitor_bridge.model import DeviceSpec
from iot_monitor_bridge.states import StateFilter


def _state_filter(cfg: StateConfig) -> StateFilter:
    return StateFilter(cfg.throttle, cfg.delta, cfg.heartbeat)


def _sensor_driver(device_id: str, cfg: SensorConfig) -> SensorDriver:
    if isinstance(cfg, GpioInputConfig):
        from iot_monitor_bridge.drivers.gpio import GpioInputDriver

        return GpioInputDriver(device_id, cfg)
    if isinstance(cfg, Mcp3008Config):
        from iot_monitor_bridge.drivers.gpio import Mcp3008Driver

        return Mcp3008Driver(device_id, cfg)
    if isinstance(cfg, Hcsr04Config):
        from iot_monitor_bridge.drivers.gpio import Hcsr04Driver

        return Hcsr04Driver(device_id, cfg)
    if isinstance(cfg, Ds18b20Config):
        from iot_monitor_bridge.drivers.onewire import Ds18b20Driver

        return Ds18b20Driver(device_id, cfg)
    if isinstance(cfg, SerialConfig):
        from iot_monitor_bridge.drivers.serial import SerialDriver

        return SerialDriver(device_id, cfg)
    raise AssertionError(f"unhandled sensor type {cfg!r}")  # config validation forbids this


def _configured_device(
    cfg: DeviceConfig,
) -> tuple[DeviceSpec, list[SensorDriver], list[OutputDriver]]:
    sensors = [_sensor_driver(cfg.id, sensor) for sensor in cfg.sensors]
    outputs: list[OutputDriver] = []
    if cfg.outputs:
        from iot_monitor_bridge.drivers.gpio import GpioOutputDriver

        outputs = [GpioOutputDriver(cfg.id, output) for output in cfg.outputs]
    spec = DeviceSpec(
        id=cfg.id,
        name=cfg.display_name,
        model=cfg.model or "Raspberry Pi sensors",
        sensors=tuple(spec for driver in sensors for spec in driver.sensors),
        outputs=tuple(output.spec for output in outputs),
        suggested_area=cfg.area,
    )
    return spec, sensors, outputs


def build_device_set(config: BridgeConfig) -> DeviceSet:
    """Devices and drivers for everything under ``devices:`` (the bridge's own are separate)."""
    devices: list[DeviceSpec] = []
    sensors: list[SensorDriver] = []
    outputs: list[OutputDriver] = []
    configured: dict[tuple[str, str], SensorDriver] = {}
    state_filters: dict[tuple[str, str], StateFilter] = {}
    for cfg in config.devices:
        if cfg.simulate is not None:
            from iot_monitor_bridge.drivers.simulated import SimulatedFleet

            fleet = SimulatedFleet(cfg)
            devices.extend(fleet.devices)
            sensors.append(fleet)
            fleet_filter = _state_filter(cfg.simulate.state)
            state_filters.update(
                ((device.id, sensor.id), fleet_filter)
                for device in fleet.devices
                for sensor in device.sensors
            )
        if cfg.sensors or cfg.outputs:
            spec, device_sensors, device_outputs = _configured_device(cfg)
            devices.append(spec)
            sensors.extend(device_sensors)
            outputs.extend(device_outputs)
            for sensor_cfg, driver in zip(cfg.sensors, device_sensors, strict=True):
                configured[(cfg.id, sensor_cfg.id)] = driver
                sensor_filter = _state_filter(sensor_cfg.state)
                state_filters.update(((cfg.id, spec.id), sensor_filter) for spec in driver.sensors)
    _check_ids(devices)
    return DeviceSet(devices, sensors, outputs, configured, state_filters)


def _repeated(ids: Iterable[str]) -> str | None:
    """The first id that occurs more than once, if any."""
    return next((item for item, count in Counter(ids).items() if count > 1), None)


def _check_ids(devices: list[DeviceSpec]) -> None:
    """Ids become MQTT topics and unique ids, so the ones drivers derive must not clash.

    The configuration's own checks see only the ids written in it, not a fleet's numbered
    devices or the ids a serial sensor gives its values.
    """
    device_id = _repeated(device.id for device in devices)
    if device_id is not None:
        raise DriverError(
            f"devices: two devices have the id '{device_id}' "
            "(a simulated fleet's devices are <id>_1, <id>_2, ...)"
        )
    for device in devices:
        item_id = _repeated([*(s.id for s in device.sensors), *(o.id for o in device.outputs)])
        if item_id is not None:
            raise DriverError(
                f"devices: device '{device.id}' has two sensors or outputs with the id "
                f"'{item_id}' (a serial sensor's values are <id>_pm25, <id>_pm10, <id>_<field>)"
            )
