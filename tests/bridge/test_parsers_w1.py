"""DS18B20 w1_slave text: a reading only from a YES line with a plausible temperature."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.parsers.base import Fault
from iot_monitor_bridge.parsers.w1 import parse_w1_slave
from tests.support.streams import PROPERTY_SETTINGS, mangled

GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
"""As the kernel's w1-therm driver writes it (0x0172 sixteenths of a degree = 23.125 °C)."""


def w1_slave(
    milli_c: int, verdict: str = "YES", scratchpad: str = "72 01 4b 46 7f ff 0e 10 57"
) -> str:
    return f"{scratchpad} : crc=57 {verdict}\n{scratchpad} t={milli_c}\n"


def test_reading() -> None:
    assert parse_w1_slave(GOOD) == 23.125


@pytest.mark.parametrize(
    ("milli_c", "celsius"), [(-10125, -10.125), (0, 0.0), (125000, 125.0), (-55000, -55.0)]
)
def test_range_of_the_sensor(milli_c: int, celsius: float) -> None:
    assert parse_w1_slave(w1_slave(milli_c)) == celsius


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (w1_slave(23125, "NO"), "crc_failure"),
        (w1_slave(85000), "power_on_reset"),
        (w1_slave(125001), "out_of_range"),
        (w1_slave(-55001), "out_of_range"),
        (w1_slave(0, scratchpad="00 00 00 00 00 00 00 00 00"), "bus_error"),
        ("", "garbled"),
        (GOOD.splitlines()[0], "garbled"),
        (GOOD.replace(" YES", ""), "garbled"),
        (GOOD.replace("t=23125", "t="), "garbled"),
        (GOOD.replace("t=23125", "t=2x125"), "garbled"),
        (GOOD.replace("t=23125", "t=12345678"), "garbled"),
        (GOOD.replace("crc=57", "crc=5"), "garbled"),
    ],
)
def test_rejected_with_a_reason(text: str, kind: str) -> None:
    result = parse_w1_slave(text)
    assert isinstance(result, Fault)
    assert result.kind == kind
    assert result.detail


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_any_text_never_raises(text: str) -> None:
    result = parse_w1_slave(text)
    assert isinstance(result, Fault) or -55 <= result <= 125


@PROPERTY_SETTINGS
@given(st.data(), st.integers(-55000, 125000))
def test_mangled_files_never_raise(data: st.DataObject, milli_c: int) -> None:
    text = data.draw(mangled(w1_slave(milli_c).encode())).decode("ascii", "replace")
    result = parse_w1_slave(text)
    assert isinstance(result, Fault) or -55 <= result <= 125
