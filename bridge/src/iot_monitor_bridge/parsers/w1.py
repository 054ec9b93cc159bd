"""The ``w1_slave`` file the Linux w1-therm driver writes for a DS18B20 temperature sensor.

::

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

The first line is the scratchpad and the kernel's CRC verdict, the second the temperature in
milli-degrees Celsius. Only a ``YES`` line with a plausible temperature counts as a reading.
"""

from __future__ import annotations

import re

from iot_monitor_bridge.parsers.base import Fault

POWER_ON_RESET_MILLI_C = 85_000
"""What the sensor holds before its first conversion (power glitch, or read too early)."""
MIN_MILLI_C, MAX_MILLI_C = -55_000, 125_000
"""The DS18B20's measuring range."""

_CRC = re.compile(r"^((?:[0-9a-f]{2} ){9}): crc=[0-9a-f]{2} (YES|NO)\s*$", re.ASCII)
_TEMPERATURE = re.compile(r"\bt=(-?\d{1,6})\s*$", re.ASCII)


def parse_w1_slave(text: str) -> float | Fault:
    """Degrees Celsius, or the reason the file holds no trustworthy reading."""
    lines = text.splitlines()
    if len(lines) < 2:
        return Fault("garbled", f"expected two lines, got {len(lines)}")
    crc = _CRC.match(lines[0])
    if crc is None:
        return Fault("garbled", f"no CRC verdict in {lines[0][:80]!r}")
    if crc.group(2) == "NO":
        return Fault("crc_failure", f"CRC check failed: {lines[0][:80]}")
    if not crc.group(1).replace("0", "").strip():
        return Fault("bus_error", "scratchpad read as all zeros (data line held low?)")
    temperature = _TEMPERATURE.search(lines[1])
    if temperature is None:
        return Fault("garbled", f"no temperature in {lines[1][:80]!r}")
    milli_c = int(temperature.group(1))
    if milli_c == POWER_ON_RESET_MILLI_C:
        return Fault("power_on_reset", "85 °C is the power-on value, not a measurement")
    if not MIN_MILLI_C <= milli_c <= MAX_MILLI_C:
        return Fault("out_of_range", f"{milli_c / 1000} °C is outside the sensor's range")
    return milli_c / 1000
