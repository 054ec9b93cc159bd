"""Line-oriented text devices (microcontrollers printing readings): JSON lines and key=value lines.

Each line carries some values by key; the keys a configuration asks for are its fields. A line
that is not what it should be, or lacks a field, or has one that is not a number, yields faults
alongside whatever fields it did carry. Lines longer than ``MAX_LINE_BYTES`` are dropped whole, so
a device that never sends a newline cannot grow the buffer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from iot_monitor_bridge.parsers.base import Fault

MAX_LINE_BYTES = 1024

_PAIR = re.compile(r"([^\s,;=]+)\s*=\s*([^\s,;=]*)(?=[\s,;]|$)(?!\s*=)")
"""``key=value`` separated by spaces, commas or semicolons. ``key = value`` is accepted too, but
in ``a= b=1`` the value of ``a`` is empty, not ``b``."""


@dataclass(frozen=True, slots=True)
class LineValues:
    """The configured fields one line carried, and why any are missing."""

    values: dict[str, float]
    faults: list[Fault]


LineParser = Callable[[str, Collection[str]], LineValues]


def parse_json_line(line: str, fields: Collection[str]) -> LineValues:
    """``{"temp": 21.5, "hum": 40}``: one JSON object; numbers or numeric strings."""
    try:
        document = json.loads(line)
    except (ValueError, RecursionError) as err:
        return LineValues({}, [Fault("not_json", f"{_excerpt(line)}: {err}")])
    if not isinstance(document, dict):
        return LineValues({}, [Fault("not_json_object", _excerpt(line))])
    return _pick(document, fields, line)


def parse_key_value_line(line: str, fields: Collection[str]) -> LineValues:
    """``temp=21.5 hum=40`` or ``temp=21.5,hum=40``."""
    pairs = dict(_PAIR.findall(line))
    if not pairs:
        return LineValues({}, [Fault("garbled_line", _excerpt(line))])
    return _pick(pairs, fields, line)


def _pick(raw: Mapping[str, object], fields: Collection[str], line: str) -> LineValues:
    values: dict[str, float] = {}
    faults: list[Fault] = []
    for field in fields:
        if field not in raw:
            faults.append(Fault("missing_value", f"no {field} in {_excerpt(line)}"))
            continue
        number = _number(raw[field])
        if number is None:
            faults.append(Fault("not_numeric", f"{field}={_excerpt(str(raw[field]))}"))
        else:
            values[field] = number
    return LineValues(values, faults)


def _number(value: object) -> float | None:
    """A finite float from a number or numeric text; ``None`` for anything else (booleans too)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class LineSplitter:
    """Splits a byte stream into text lines, dropping (and counting) lines that are too long."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._discarding = False
        """Inside an overlong line already counted: drop everything up to its newline."""

    def feed(self, chunk: bytes) -> tuple[list[str], int]:
        """Complete non-blank lines, and how many overlong lines were dropped."""
        self._buffer += chunk
        lines: list[str] = []
        overlong = 0
        while (newline := self._buffer.find(b"\n")) >= 0:
            raw = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            if self._discarding:
                self._discarding = False
            elif len(raw) > self._max_bytes:
                overlong += 1
            elif line := raw.decode("utf-8", "replace").strip():
                lines.append(line)
        if len(self._buffer) > self._max_bytes:
            if not self._discarding:
                overlong += 1
                self._discarding = True
            self._buffer.clear()
        return lines, overlong


@dataclass(frozen=True, slots=True)
class LinesDecoded:
    """What one chunk of a text stream completed: values per line that carried any, and faults."""

    values: list[dict[str, float]]
    faults: list[Fault]


class LineDecoder:
    """Values from a stream of text lines, each parsed by ``parse`` for the configured fields."""

    def __init__(self, parse: LineParser, fields: Collection[str]) -> None:
        self._parse = parse
        self._fields = fields
        self._splitter = LineSplitter()

    def feed(self, chunk: bytes) -> LinesDecoded:
        """Values of the lines ``chunk`` completed, and the faults: overlong lines, bad fields."""
        lines, overlong = self._splitter.feed(chunk)
        values: list[dict[str, float]] = []
        faults: list[Fault] = []
        if overlong:
            faults.append(
                Fault("overlong_line", f"{overlong} line(s) over {MAX_LINE_BYTES} bytes dropped")
            )
        for line in lines:
            parsed = self._parse(line, self._fields)
            faults.extend(parsed.faults)
            if parsed.values:
                values.append(parsed.values)
        return LinesDecoded(values, faults)
