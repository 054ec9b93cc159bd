"""JSON lines and key=value lines: values by field, faults instead of exceptions, bounded lines."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.parsers.base import Fault
from iot_monitor_bridge.parsers.text import (
    MAX_LINE_BYTES,
    LineDecoder,
    LineSplitter,
    parse_json_line,
    parse_key_value_line,
)
from tests.support.streams import PROPERTY_SETTINGS, chunked, mangled

FIELDS = ("temp", "hum")


def kinds(faults: Iterable[Fault]) -> list[str]:
    return [fault.kind for fault in faults]


def test_json_line_values() -> None:
    parsed = parse_json_line('{"temp": 21.5, "hum": 40, "other": "x"}', FIELDS)
    assert parsed.values == {"temp": 21.5, "hum": 40.0}
    assert parsed.faults == []


def test_json_numeric_strings_count_as_numbers() -> None:
    assert parse_json_line('{"temp": "21.5", "hum": " 7 "}', FIELDS).values == {
        "temp": 21.5,
        "hum": 7.0,
    }


@pytest.mark.parametrize(
    ("line", "values", "fault_kinds"),
    [
        ('{"temp": 21.5}', {"temp": 21.5}, ["missing_value"]),
        ('{"temp": "warm", "hum": 40}', {"hum": 40.0}, ["not_numeric"]),
        ('{"temp": true, "hum": null}', {}, ["not_numeric", "not_numeric"]),
        ('{"temp": [1], "hum": {"v": 1}}', {}, ["not_numeric", "not_numeric"]),
        ('{"temp": NaN, "hum": Infinity}', {}, ["not_numeric", "not_numeric"]),
        ('{"temp": 1e400, "hum": 1}', {"hum": 1.0}, ["not_numeric"]),
        ('{"temp": ' + "9" * 400 + ', "hum": 1}', {"hum": 1.0}, ["not_numeric"]),
        ("[21.5, 40]", {}, ["not_json_object"]),
        ('{"temp": 21.5', {}, ["not_json"]),
        ("temp=21.5", {}, ["not_json"]),
    ],
)
def test_json_line_faults(line: str, values: dict[str, float], fault_kinds: list[str]) -> None:
    parsed = parse_json_line(line, FIELDS)
    assert parsed.values == values
    assert kinds(parsed.faults) == fault_kinds


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_deep_nesting_is_a_fault_not_a_crash(depth: int) -> None:
    parsed = parse_json_line("[" * depth + "]" * depth, FIELDS)
    assert parsed.values == {}
    # Python 3.11 gives up on the nesting (RecursionError); 3.14 parses 1000 levels.
    assert kinds(parsed.faults) in (["not_json"], ["not_json_object"])


@pytest.mark.parametrize(
    "line",
    ["temp=21.5 hum=40", "temp=21.5,hum=40", "temp=21.5, hum=40", "temp = 21.5; hum = 40"],
)
def test_key_value_separators(line: str) -> None:
    parsed = parse_key_value_line(line, FIELDS)
    assert parsed.values == {"temp": 21.5, "hum": 40.0}
    assert parsed.faults == []


@pytest.mark.parametrize(
    ("line", "values", "fault_kinds"),
    [
        ("temp=21.5", {"temp": 21.5}, ["missing_value"]),
        ("temp=1=2 hum=3", {"hum": 3.0}, ["missing_value"]),
        ("temp=warm hum=40", {"hum": 40.0}, ["not_numeric"]),
        ("temp= hum=40", {"hum": 40.0}, ["not_numeric"]),
        ("temp=nan hum=inf", {}, ["not_numeric", "not_numeric"]),
        ("hello world", {}, ["garbled_line"]),
        ("other=1", {}, ["missing_value", "missing_value"]),
    ],
)
def test_key_value_faults(line: str, values: dict[str, float], fault_kinds: list[str]) -> None:
    parsed = parse_key_value_line(line, FIELDS)
    assert parsed.values == values
    assert kinds(parsed.faults) == fault_kinds


def test_lines_split_across_reads_with_crlf() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"temp=1") == ([], 0)
    assert splitter.feed(b"\r\n\r\ntemp=2\r\ntem") == (["temp=1", "temp=2"], 0)
    assert splitter.feed(b"p=3\n") == (["temp=3"], 0)


def test_overlong_line_is_dropped_once_and_the_next_line_kept() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"x" * (MAX_LINE_BYTES + 1)) == ([], 1)
    assert splitter.feed(b"y" * 5000) == ([], 0)  # the same line still: not counted again
    assert splitter.feed(b"tail\ntemp=4\n") == (["temp=4"], 0)


def test_overlong_line_arriving_whole_is_dropped() -> None:
    line = b"z" * (MAX_LINE_BYTES + 1)
    assert LineSplitter().feed(line + b"\nok=1\n" + b"w" * MAX_LINE_BYTES + b"\n") == (
        ["ok=1", "w" * MAX_LINE_BYTES],
        1,
    )


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert LineSplitter().feed(b"temp=\xff\xfe\n") == (["temp=\ufffd\ufffd"], 0)


def test_line_decoder_reports_values_and_every_fault() -> None:
    decoder = LineDecoder(parse_key_value_line, FIELDS)
    decoded = decoder.feed(
        b"temp=20 hum=30\nnoise\n" + b"q" * (MAX_LINE_BYTES + 10) + b"\ntemp=x hum=31\n"
    )
    assert decoded.values == [{"temp": 20.0, "hum": 30.0}, {"hum": 31.0}]
    assert kinds(decoded.faults) == ["overlong_line", "garbled_line", "not_numeric"]


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
json_values = json_scalars | st.lists(json_scalars, max_size=3)


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(["temp", "hum", "x"]), json_values))
def test_any_json_object_yields_each_field_or_a_fault(document: dict[str, object]) -> None:
    parsed = parse_json_line(json.dumps(document), FIELDS)
    assert len(parsed.values) + len(parsed.faults) == len(FIELDS)
    for field, value in parsed.values.items():
        assert math.isfinite(value)
        assert value == float(str(document[field]))


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_any_text_never_raises(line: str) -> None:
    for parse in (parse_json_line, parse_key_value_line):
        parsed = parse(line, FIELDS)
        assert set(parsed.values) <= set(FIELDS)
        assert all(math.isfinite(value) for value in parsed.values.values())


@PROPERTY_SETTINGS
@given(st.data(), st.binary(max_size=3000))
def test_random_bytes_never_raise_and_a_newline_resynchronises(
    data: st.DataObject, stream: bytes
) -> None:
    valid_lines = {
        parse_json_line: b'{"temp": 1, "hum": 2}\n',
        parse_key_value_line: b"temp=1 hum=2\n",
    }
    for parse, valid_line in valid_lines.items():
        decoder = LineDecoder(parse, FIELDS)
        for chunk in data.draw(chunked(stream)):
            decoder.feed(chunk)
        assert decoder.feed(b"\n" + valid_line).values[-1] == {"temp": 1.0, "hum": 2.0}


@PROPERTY_SETTINGS
@given(st.data())
def test_mangled_lines_never_raise(data: st.DataObject) -> None:
    clean = b'{"temp": 21.5, "hum": 40}\ntemp=21.5 hum=40\n' * 3
    stream = data.draw(mangled(clean))
    for parse in (parse_json_line, parse_key_value_line):
        decoder = LineDecoder(parse, FIELDS)
        for chunk in data.draw(chunked(stream)):
            for values in decoder.feed(chunk).values:
                assert set(values) <= set(FIELDS)
