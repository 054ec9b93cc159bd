"""Guard expressions: parsed at configuration time, evaluated without eval, three-valued."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_monitor_bridge.machines.expr import (
    MAX_DEPTH,
    ExpressionError,
    Guard,
    describe,
    evaluate,
    parse,
)

SENSORS = {
    ("fridge", "temperature"): 9.5,
    ("fridge", "door"): True,
    ("fleet_1", "status"): "warn",
    ("fleet_1", "location"): {"latitude": 1.0, "longitude": 2.0},
    ("pi-2", "load"): 0.5,
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("fridge.temperature < 8", False),
        ("fridge.temperature >= 9.5", True),
        ("fridge.temperature > -5", True),
        ("fridge.door", True),
        ("not fridge.door", False),
        ("fridge.door == true", True),
        ('fleet_1.status == "warn"', True),
        ("fleet_1.status != 'ok'", True),
        ("pi-2.load<1", True),
        ("credit >= price", True),
        ("fridge.temperature > 8 and not out_of_service", True),
        ("fridge.temperature < 8 or out_of_service", False),
        ("(fridge.temperature < 8 or credit > 1) and fridge.door", True),
        ("not not fridge.door", True),
    ],
)
def test_values(text: str, value: bool) -> None:
    variables = {"credit": 5000, "price": 3000, "out_of_service": False}
    assert evaluate(parse(text), SENSORS, variables) is value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("missing.sensor < 8", None),  # not reported yet
        ("fleet_1.status < 8", None),  # a string is not ordered against a number
        ("fleet_1.location == 1", None),  # a location is no value here
        ("missing.sensor < 8 and fridge.door", None),
        ("missing.sensor < 8 and not fridge.door", False),  # false and unknown
        ("missing.sensor < 8 or fridge.door", True),  # true or unknown
        ("not missing.sensor", None),
        ("fridge.temperature and true", None),  # a number is not a truth value
    ],
)
def test_unknown_follows_kleene_logic(text: str, value: bool | None) -> None:
    assert evaluate(parse(text), SENSORS, {}) is value


def test_a_guard_passes_only_on_true() -> None:
    guard = Guard("missing.sensor < 8")
    assert guard.value(SENSORS, {}) is None
    assert not guard(SENSORS, {})
    assert Guard("fridge.door")(SENSORS, {})
    assert guard.inputs(SENSORS, {}) == "missing.sensor = unknown"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "empty expression"),
        ("fridge.temperature <", 20, "expected a number"),
        ("fridge.temperature < < 8", 21, "expected a number"),
        ("1 < x < 3", 6, "comparisons cannot be chained"),
        ("(a and b", 8, "expected ')' to close the '(' at position 0"),
        ("a b", 2, "expected 'and', 'or' or the end, found 'b'"),
        ("Fridge.temperature", 0, "unexpected character 'F' (ids are lowercase)"),
        ("__import__('os')", 0, "unexpected character '_'"),
        ("a + 1", 2, "unexpected character '+'"),
        ("fridge.temperature < 'eight'", 19, "'<' compares numbers"),
        ('1 == "1"', 2, "compares values of different types"),
        ("x == 'unterminated", 5, "unexpected character"),
        ("a.b.c", 3, "unexpected character '.'"),
        ("x > 99999999999999999999", 4, "number out of range"),
    ],
)
def test_mistakes_name_their_position(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    assert raised.value.position == position
    assert message in raised.value.message
    assert str(raised.value).startswith(f"position {position}: ")


def test_nesting_and_length_are_bounded() -> None:
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("not " * (MAX_DEPTH + 1) + "a")
    parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    with pytest.raises(ExpressionError, match="longer than"):
        parse("a or " * 200 + "a")


def test_describe_writes_the_tree_back() -> None:
    text = 'not (a.b < 8 or c) and d.e == "x"'
    assert describe(parse(text)) == 'not (a.b < 8 or c) and d.e == "x"'
    assert parse(describe(parse(text))) == parse(text)


_ATOMS = st.sampled_from(
    ["fridge.temperature", "x", "8", "-1.5", "'s'", "true", "false", "(", ")", "<", ">=", "=="]
)
_WORDS = st.sampled_from(["and", "or", "not", " ", "", "\t", "."]) | st.text(max_size=3)


@settings(max_examples=500)
@given(st.lists(_ATOMS | _WORDS, max_size=12))
def test_any_text_parses_or_names_a_position_never_another_exception(parts: list[Any]) -> None:
    text = " ".join(parts)
    try:
        node = parse(text)
    except ExpressionError as err:
        position = err.position
    else:
        position = None
    if position is not None:
        assert 0 <= position <= len(text)
        return
    value = evaluate(node, SENSORS, {"x": 1})
    assert value is None or isinstance(value, bool | int | float | str)
