"""GPIO drivers on gpiozero: binary inputs, the MCP3008 ADC, the HC-SR04 sensor, outputs.

gpiozero chooses its pin library (lgpio on current Raspberry Pi OS) when the first device is
opened. That happens in ``run`` (or on an output's first use), never in a constructor, so
the bridge can build and describe every driver on a machine without GPIO.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from gpiozero import (
    MCP3008,
    DigitalInputDevice,
    DigitalOutputDevice,
    DistanceSensor,
    GPIOZeroError,
)

from iot_monitor_bridge.config import (
    GpioInputConfig,
    GpioOutputConfig,
    Hcsr04Config,
    Mcp3008Config,
)
from iot_monitor_bridge.drivers.base import (
    DriverError,
    Emit,
    FaultLog,
    OutputDriver,
    SensorDriver,
)
from iot_monitor_bridge.model import OutputSpec, SensorKind, SensorSpec

_LOGGER = logging.getLogger(__name__)

_Device = TypeVar("_Device")


def scale_adc(raw: int, bits: int, low: float, high: float) -> float:
    """Map an ADC count linearly onto ``low``..``high``: 0 gives ``low``, full scale ``high``.

    Counts outside the converter's range (impossible from a healthy chip) are clamped.
    """
    fraction = raw / ((1 << bits) - 1)
    return low + min(max(fraction, 0.0), 1.0) * (high - low)


def _open(what: str, factory: Callable[[], _Device]) -> _Device:
    """Open a gpiozero device; a pin that is taken or missing is a configuration problem."""
    try:
        return factory()
    except (GPIOZeroError, OSError) as err:
        raise DriverError(f"cannot open {what}: {err}") from err


async def _forever() -> None:
    await asyncio.Event().wait()


class _GpioSensorDriver(SensorDriver):
    """A sensor on a gpiozero device that ``run`` opens (as ``_device``) and ``close`` releases."""

    _device: Any = None

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None


class GpioInputDriver(_GpioSensorDriver):
    """A contact, button or PIR output on one pin, reported as a binary sensor.

    Debouncing happens here, not in the pin library: a level is reported once it has been
    stable for ``bounce_time``. A leading-edge filter (what RPi.GPIO does) can lose the last
    edge of a short press and leave the reported state wrong; this cannot, and it behaves
    the same with every pin library (gpiozero's mock pins ignore ``bounce`` altogether).
    """

    def __init__(self, device_id: str, cfg: GpioInputConfig) -> None:
        self.device_id = device_id
        self.sensors = (
            SensorSpec(cfg.id, cfg.display_name, SensorKind.BINARY, device_class=cfg.device_class),
        )
        self.faults = FaultLog(_LOGGER, f"{device_id}/{cfg.id}")
        self._cfg = cfg
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settle: asyncio.TimerHandle | None = None
        self._reported: bool | None = None
        self._emit: Emit | None = None

    async def run(self, emit: Emit) -> None:
        """Open the pin, report its level, then every level that holds for ``bounce_time``."""
        cfg = self._cfg
        self._loop = asyncio.get_running_loop()
        self._emit = emit
        self._reported = None  # a restarted driver reports its state again
        self._device = _open(
            f"GPIO{cfg.pin}",
            lambda: DigitalInputDevice(
                cfg.pin, pull_up=cfg.pull_up, active_state=cfg.active_high, bounce_time=None
            ),
        )
        self._device.when_activated = self._device.when_deactivated = self._on_edge
        self._report()
        try:
            await _forever()
        finally:
            self._emit = None
            self._device.when_activated = self._device.when_deactivated = None
            if self._settle is not None:
                self._settle.cancel()

    def _on_edge(self) -> None:
        """From gpiozero's thread: restart the settle timer on the loop."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._restart_settle, loop)
        except RuntimeError:  # the loop closed while the edge was on its way
            return

    def _restart_settle(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._settle is not None:
            self._settle.cancel()
        self._settle = loop.call_later(self._cfg.bounce_time, self._report)

    def _report(self) -> None:
        """Emit the pin's level if it differs from the last one reported."""
        if self._device is None or self._emit is None:
            return
        value = bool(self._device.is_active) != self._cfg.invert
        if value != self._reported:
            self._reported = value
            self._emit(self.reading(self._cfg.id, value))


class Mcp3008Driver(_GpioSensorDriver):
    """One channel of an MCP3008 on the SPI bus, scaled to ``min_value``..``max_value``."""

    def __init__(self, device_id: str, cfg: Mcp3008Config) -> None:
        self.device_id = device_id
        self.sensors = (
            SensorSpec(
                cfg.id,
                cfg.display_name,
                unit=cfg.unit,
                device_class=cfg.device_class,
                state_class=cfg.state_class,
                precision=cfg.precision,
            ),
        )
        self.faults = FaultLog(_LOGGER, f"{device_id}/{cfg.id}")
        self._cfg = cfg
        self.interval = cfg.interval

    async def run(self, emit: Emit) -> None:
        """Open the ADC, then read and scale the channel every ``interval`` (off the loop)."""
        cfg = self._cfg
        self._device = adc = _open(
            f"MCP3008 on SPI{cfg.spi_port}.{cfg.spi_device}",
            lambda: MCP3008(channel=cfg.channel, port=cfg.spi_port, device=cfg.spi_device),
        )
        bits = int(adc.bits)
        ticker = self.ticker()
        while True:
            await ticker.wait()
            try:
                # A software SPI bus bit-bangs for milliseconds: keep it off the loop.
                raw = await asyncio.to_thread(lambda: int(adc.raw_value))
            except (GPIOZeroError, OSError) as err:
                self.faults.fault("read_error", str(err))
                continue
            value = scale_adc(raw, bits, cfg.min_value, cfg.max_value)
            if cfg.precision is not None:
                value = round(value, cfg.precision)
            emit(self.reading(cfg.id, value))


class _EchoCountingSensor(DistanceSensor):  # type: ignore[misc]  # gpiozero is untyped
    """gpiozero's DistanceSensor, counting the pings that came back.

    Its background thread pings continuously and silently drops pings without an echo, so
    ``distance`` alone would repeat the last good median forever after the sensor died.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.echoes = 0  # set before the ping thread starts in super().__init__
        super().__init__(*args, **kwargs)

    def _read(self) -> float | None:
        value: float | None = super()._read()
        if value is not None:
            self.echoes += 1
        return value


class Hcsr04Driver(_GpioSensorDriver):
    """An HC-SR04 ultrasonic sensor reporting distance in cm.

    gpiozero pings about 16 times a second in its own thread; each poll reports the median
    of the latest pings. A poll with no echo since the previous one is a fault (sensor
    unplugged, nothing in range), counted and skipped.
    """

    def __init__(self, device_id: str, cfg: Hcsr04Config) -> None:
        self.device_id = device_id
        self.sensors = (
            SensorSpec(
                cfg.id,
                cfg.display_name,
                unit="cm",
                device_class="distance",
                state_class="measurement",
                precision=1,
            ),
        )
        self.faults = FaultLog(_LOGGER, f"{device_id}/{cfg.id}")
        self._cfg = cfg
        self.interval = cfg.interval

    async def run(self, emit: Emit) -> None:
        """Open the sensor, then report the median of its latest pings every ``interval``."""
        cfg = self._cfg
        self._device = sensor = _open(
            f"HC-SR04 on GPIO{cfg.trigger_pin}/GPIO{cfg.echo_pin}",
            lambda: _EchoCountingSensor(
                echo=cfg.echo_pin,
                trigger=cfg.trigger_pin,
                max_distance=cfg.max_distance,
                threshold_distance=cfg.max_distance / 2,  # unused, but must be in range
                partial=True,  # never block the loop waiting for a full queue
            ),
        )
        seen = 0
        ticker = self.ticker(first_after=cfg.interval)  # let the first pings land
        while True:
            await ticker.wait()
            echoes = int(sensor.echoes)
            if echoes == seen:
                self.faults.fault(
                    "no_echo",
                    f"no echo on GPIO{cfg.echo_pin} in the last {self.interval:g} s",
                )
                continue
            seen = echoes
            emit(self.reading(cfg.id, round(float(sensor.distance) * 100.0, 1)))


class GpioOutputDriver(OutputDriver):
    """A relay, LED or buzzer on one pin.

    The pin is opened on first use (``is_on`` or ``set``) and then driven to ``initial``;
    commands may arrive from any thread.
    """

    def __init__(self, device_id: str, cfg: GpioOutputConfig) -> None:
        self.device_id = device_id
        self.spec = OutputSpec(cfg.id, cfg.display_name, device_class=cfg.device_class)
        self._cfg = cfg
        self._output: Any = None
        self._lock = threading.Lock()

    @property
    def is_on(self) -> bool:
        """The pin's level; opens it (driven to ``initial``) on first use."""
        with self._lock:
            output = self._opened()
            try:
                return bool(output.is_active)
            except GPIOZeroError as err:
                raise OSError(f"GPIO{self._cfg.pin}: {err}") from err

    def set(self, on: bool) -> None:
        """Drive the pin, opening it on first use; gpiozero's errors come as ``OSError``."""
        with self._lock:
            output = self._opened()
            try:
                if on:
                    output.on()
                else:
                    output.off()
            except GPIOZeroError as err:
                raise OSError(f"GPIO{self._cfg.pin}: {err}") from err

    def close(self) -> None:
        """Release the pin; a later ``is_on`` or ``set`` opens it again."""
        with self._lock:
            if self._output is not None:
                self._output.close()
                self._output = None

    def _opened(self) -> Any:
        if self._output is None:
            cfg = self._cfg
            try:
                self._output = _open(
                    f"GPIO{cfg.pin}",
                    lambda: DigitalOutputDevice(
                        cfg.pin, active_high=cfg.active_high, initial_value=cfg.initial
                    ),
                )
            except DriverError as err:
                raise OSError(str(err)) from err
        return self._output
