"""GPIO drivers against gpiozero's mock pins: inputs, debounce, MCP3008, HC-SR04, outputs."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockSPIDevice, MockTriggerPin
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.config import (
    ConfigError,
    GpioInputConfig,
    GpioOutputConfig,
    Hcsr04Config,
    Mcp3008Config,
    validate,
)
from iot_monitor_bridge.drivers.base import DriverError, now_ms
from iot_monitor_bridge.drivers.gpio import (
    GpioInputDriver,
    GpioOutputDriver,
    Hcsr04Driver,
    Mcp3008Driver,
    scale_adc,
)
from iot_monitor_bridge.model import Reading, SensorKind
from tests.support.drivers import next_reading, record_faults, running

# gpiozero advises pigpio for distance sensors; the mock factory is not pigpio.
pytestmark = pytest.mark.filterwarnings("ignore::gpiozero.PWMSoftwareFallback")


def _input(**overrides: Any) -> GpioInputConfig:
    fields: dict[str, Any] = {"id": "door", "type": "gpio_input", "pin": 17, "bounce_time": 0.01}
    return validate(fields | overrides, GpioInputConfig)


def _assert_fresh(reading: Reading, before_ms: int) -> None:
    assert before_ms <= reading.ts_ms <= now_ms()


# --- scaling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "low", "high", "expected"),
    [
        (0, 0.0, 100.0, 0.0),
        (1023, 0.0, 100.0, 100.0),
        (512, -40.0, 85.0, -40.0 + 512 / 1023 * 125.0),
        (1023, 100.0, 0.0, 0.0),  # a sensor whose voltage falls as the quantity rises
        (5000, 0.0, 3.3, 3.3),  # impossible counts are clamped
        (-3, 0.0, 3.3, 0.0),
    ],
)
def test_scale_adc(raw: int, low: float, high: float, expected: float) -> None:
    assert scale_adc(raw, 10, low, high) == pytest.approx(expected)


@given(
    raw=st.integers(min_value=-(2**16), max_value=2**16),
    bits=st.integers(min_value=1, max_value=16),
    low=st.floats(min_value=-1e6, max_value=1e6),
    high=st.floats(min_value=-1e6, max_value=1e6),
)
def test_scaled_values_stay_between_the_ends(raw: int, bits: int, low: float, high: float) -> None:
    value = scale_adc(raw, bits, low, high)
    assert math.isfinite(value)
    assert min(low, high) - 1e-6 <= value <= max(low, high) + 1e-6


# --- gpio_input --------------------------------------------------------------------------


def test_input_describes_a_binary_sensor() -> None:
    driver = GpioInputDriver("hall", _input(name="Front door", device_class="door"))
    (spec,) = driver.sensors
    assert (spec.id, spec.name, spec.kind, spec.device_class) == (
        "door",
        "Front door",
        SensorKind.BINARY,
        "door",
    )
    assert driver.device_id == "hall"


async def test_input_reports_its_state_at_start_and_on_every_change(pins: MockFactory) -> None:
    before = now_ms()
    driver = GpioInputDriver("hall", _input())
    async with running(driver) as readings:
        first = await next_reading(readings)
        # Pulled up and active low: the open contact reads high, i.e. inactive.
        assert (first.device_id, first.sensor_id, first.value) == ("hall", "door", False)
        _assert_fresh(first, before)
        pin = pins.pin(17)
        pin.drive_low()
        assert (await next_reading(readings)).value is True
        pin.drive_high()
        assert (await next_reading(readings)).value is False


async def test_restarted_input_reports_its_state_again(pins: MockFactory) -> None:
    driver = GpioInputDriver("hall", _input())
    for _ in range(2):  # the runtime closes a driver that stopped and runs it again
        async with running(driver) as readings:
            assert (await next_reading(readings)).value is False


async def test_invert_flips_the_reported_state(pins: MockFactory) -> None:
    async with running(GpioInputDriver("hall", _input(invert=True))) as readings:
        assert (await next_reading(readings)).value is True
        pins.pin(17).drive_low()
        assert (await next_reading(readings)).value is False


async def test_floating_input_uses_active_high(pins: MockFactory) -> None:
    config = _input(pull_up=None, active_high=True)
    async with running(GpioInputDriver("hall", config)) as readings:
        assert (await next_reading(readings)).value is False  # a floating mock pin reads low
        pins.pin(17).drive_high()
        assert (await next_reading(readings)).value is True


@pytest.mark.parametrize(
    "fields",
    [{"active_high": True}, {"pull_up": None}],
    ids=["active_high with a pull resistor", "floating without active_high"],
)
def test_active_high_goes_with_a_floating_input_only(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="active_high: required with pull_up: null"):
        _input(**fields)


async def test_bouncing_contact_is_reported_once_it_settles(pins: MockFactory) -> None:
    loop = asyncio.get_running_loop()
    bounce = 0.05
    async with running(GpioInputDriver("hall", _input(bounce_time=bounce))) as readings:
        assert (await next_reading(readings)).value is False
        pin = pins.pin(17)

        for _ in range(3):  # a bouncing press that ends closed (low = active)
            pin.drive_low()
            pin.drive_high()
        pin.drive_low()
        settled_from = loop.time()
        pressed = await next_reading(readings)
        assert pressed.value is True
        assert loop.time() - settled_from >= bounce * 0.9  # waited for the level to settle

        pin.drive_high()  # a glitch shorter than bounce_time: back where it was
        pin.drive_low()
        pin.drive_high()  # then a clean release
        released = await next_reading(readings)
        assert released.value is False
        # Edge-by-edge reporting would have queued the glitch's readings by now.
        assert readings.empty()


async def test_input_pin_already_in_use_is_a_driver_error(pins: MockFactory) -> None:
    async with running(GpioInputDriver("hall", _input())) as readings:
        await next_reading(readings)
        second = GpioInputDriver("porch", _input())
        with pytest.raises(DriverError, match="GPIO17"):
            await second.run(readings.put_nowait)


# --- mcp3008 -----------------------------------------------------------------------------


class FakeMcp3008(MockSPIDevice):  # type: ignore[misc]
    """The chip's side of the MCP3008 protocol on the mock SPI0 pins (CE0).

    Master sends a start bit, the single/differential bit and three channel bits; the chip
    answers with a null bit and ten data bits, aligned to end with the third byte.
    """

    rx_buf: list[int]

    def __init__(self, factory: MockFactory) -> None:
        super().__init__(11, 10, 9, 8, pin_factory=factory)
        self.raw = [0] * 8
        self.fail_next = 0
        self._state = "idle"

    def on_start(self) -> None:
        super().on_start()
        self._state = "idle"

    def on_bit(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("SPI transfer failed")
        if self._state == "idle":
            if self.rx_buf[-1]:
                self._state, self.rx_buf = "mode", []
        elif self._state == "mode":
            self._state, self.rx_buf = "channel", []
        elif self._state == "channel" and len(self.rx_buf) == 3:
            self.tx_word(self.raw[self.rx_word()], 12)
            self._state = "result"


def _mcp(**overrides: Any) -> Mcp3008Config:
    fields: dict[str, Any] = {
        "id": "soil",
        "type": "mcp3008",
        "channel": 2,
        "min_value": 0.0,
        "max_value": 100.0,
        "unit": "%",
        "device_class": "moisture",
        "precision": 1,
        "interval": 0.02,
    }
    return validate(fields | overrides, Mcp3008Config)


def test_mcp3008_describes_the_configured_sensor() -> None:
    (spec,) = Mcp3008Driver("garden", _mcp(name="Soil moisture")).sensors
    assert (spec.id, spec.name, spec.kind) == ("soil", "Soil moisture", SensorKind.NUMERIC)
    assert (spec.unit, spec.device_class, spec.state_class, spec.precision) == (
        "%",
        "moisture",
        "measurement",
        1,
    )


async def test_mcp3008_polls_and_scales_the_channel(pins: MockFactory) -> None:
    chip = FakeMcp3008(pins)
    chip.raw[2] = 512
    chip.raw[3] = 1023  # another channel, must not leak in
    before = now_ms()
    async with running(Mcp3008Driver("garden", _mcp())) as readings:
        first = await next_reading(readings)
        assert (first.device_id, first.sensor_id, first.value) == ("garden", "soil", 50.0)
        _assert_fresh(first, before)
        chip.raw[2] = 1023
        while (reading := await next_reading(readings)).value == 50.0:
            pass
        assert reading.value == 100.0


async def test_mcp3008_read_error_is_counted_and_skipped(pins: MockFactory) -> None:
    chip = FakeMcp3008(pins)
    chip.raw[2] = 256
    driver = Mcp3008Driver("garden", _mcp(min_value=-10.0, max_value=10.0, precision=2))
    async with running(driver) as readings:
        assert (await next_reading(readings)).value == pytest.approx(
            -10 + 256 / 1023 * 20, abs=0.01
        )
        chip.fail_next = 1
        chip.raw[2] = 0
        while (await next_reading(readings)).value != -10.0:
            pass
        assert driver.faults.counts["read_error"] == 1


# --- hcsr04 ------------------------------------------------------------------------------

ECHO_TIME = 0.002  # s, an object 34.3 cm away
SPEED_OF_SOUND = 343.26  # m/s, gpiozero's figure
EXPECTED_CM = ECHO_TIME * SPEED_OF_SOUND / 2 * 100


def _sonar(**overrides: Any) -> Hcsr04Config:
    fields: dict[str, Any] = {
        "id": "level",
        "type": "hcsr04",
        "trigger_pin": 23,
        "echo_pin": 24,
        "max_distance": 2.0,
        "interval": 0.1,
    }
    return validate(fields | overrides, Hcsr04Config)


def test_hcsr04_reports_centimetres() -> None:
    (spec,) = Hcsr04Driver("tank", _sonar()).sensors
    assert (spec.unit, spec.device_class, spec.state_class, spec.precision) == (
        "cm",
        "distance",
        "measurement",
        1,
    )


async def test_hcsr04_measures_the_echo(pins: MockFactory) -> None:
    echo = pins.pin(24)
    pins.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=ECHO_TIME)
    async with running(Hcsr04Driver("tank", _sonar())) as readings:
        reading = await next_reading(readings)
    assert (reading.device_id, reading.sensor_id) == ("tank", "level")
    assert isinstance(reading.value, float)
    # A mock echo never ends early; a loaded machine can only make it longer.
    assert round(EXPECTED_CM, 1) <= reading.value <= 2 * EXPECTED_CM


@pytest.mark.filterwarnings("ignore::gpiozero.DistanceSensorNoEcho")
async def test_hcsr04_without_echo_counts_faults_then_recovers(pins: MockFactory) -> None:
    echo = pins.pin(24)
    unconnected = pins.pin(25)
    trigger = pins.pin(23, pin_class=MockTriggerPin, echo_pin=unconnected, echo_time=ECHO_TIME)
    driver = Hcsr04Driver("tank", _sonar())
    faults = record_faults(driver)
    async with running(driver) as readings:
        await faults.wait_for("no_echo")
        assert readings.empty()
        trigger.echo_pin = echo  # the sensor is plugged back in
        reading = await next_reading(readings)
        assert isinstance(reading.value, float)
        assert reading.value >= round(EXPECTED_CM, 1)
    assert driver.faults.counts["no_echo"] >= 1


# --- gpio_output -------------------------------------------------------------------------


def _output(**overrides: Any) -> GpioOutputConfig:
    fields: dict[str, Any] = {"id": "pump", "type": "gpio_output", "pin": 27}
    return validate(fields | overrides, GpioOutputConfig)


def test_output_spec_and_no_pin_opened_before_use(pins: MockFactory) -> None:
    driver = GpioOutputDriver("garden", _output(name="Water pump", device_class="outlet"))
    assert (driver.spec.id, driver.spec.name, driver.spec.device_class) == (
        "pump",
        "Water pump",
        "outlet",
    )
    assert not pins.pins  # nothing touched until the output is used


def test_output_set_drives_the_pin_and_reads_back(pins: MockFactory) -> None:
    driver = GpioOutputDriver("garden", _output())
    try:
        assert driver.is_on is False
        pin = pins.pin(27)
        assert pin.function == "output"
        driver.set(True)
        assert (driver.is_on, pin.state) == (True, True)
        driver.set(False)
        assert (driver.is_on, pin.state) == (False, False)
    finally:
        driver.close()


def test_active_low_output_with_initial_on(pins: MockFactory) -> None:
    driver = GpioOutputDriver("garden", _output(active_high=False, initial=True))
    try:
        assert driver.is_on is True
        pin = pins.pin(27)
        assert pin.state is False  # on = low for an active-low relay board
        driver.set(False)
        assert (driver.is_on, pin.state) == (False, True)
    finally:
        driver.close()


def test_close_releases_the_pin(pins: MockFactory) -> None:
    driver = GpioOutputDriver("garden", _output())
    driver.set(True)
    driver.close()
    DigitalOutputDevice(27).close()  # would raise GPIOPinInUse if still held


def test_output_on_a_taken_pin_raises_oserror(pins: MockFactory) -> None:
    holder = DigitalOutputDevice(27)
    try:
        with pytest.raises(OSError, match="GPIO27"):
            GpioOutputDriver("garden", _output()).set(True)
    finally:
        holder.close()
