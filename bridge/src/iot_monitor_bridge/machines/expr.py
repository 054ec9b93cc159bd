"""Guard expressions: a small, safe language parsed once, at configuration time.

    fridge.temperature < 8
    not out_of_service and (credit >= price or kitchen.door == false)
    fleet_1.status != "error"

- A name with a dot is a sensor, ``<device>.<sensor>``: its latest reading. A name without a
  dot is one of the machine's own variables (the vending model's ``credit``, ``price``,
  ``stock``, ``stock_total``, ``out_of_service``).
- Literals: numbers (``8``, ``-5``, ``7.5``), strings in single or double quotes, ``true``
  and ``false``.
- Comparisons ``< <= > >= == !=`` (one per pair of operands: ``1 < x < 3`` is refused),
  ``and``, ``or``, ``not`` and parentheses. A bare name is a truth value (a binary sensor, a
  flag).

Nothing is ever handed to ``eval``: the text is tokenised and parsed by the recursive
descent below into a tree of tuples, and ``evaluate`` walks that tree. A mistake raises
``ExpressionError`` with the 0-based position where it was found, so ``check-config`` can
point at it.

Evaluation is three-valued: a sensor that has not reported yet, a value of the wrong type
(a string compared with ``<``) or a missing variable is *unknown* (``None``), and
``and``/``or``/``not`` follow Kleene's logic (``false and unknown`` is false, ``true or
unknown`` is true). A guard passes only when its value is ``True``; what an unknown
out-of-service condition means is the caller's choice (the vending model counts it as out
of service: no sale before the fridge has reported).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

Value: TypeAlias = bool | int | float | str | None
"""What a name or literal stands for; ``None`` is unknown."""

Node: TypeAlias = tuple[object, ...]
"""A parsed expression: ``("lit", value)``, ``("sensor", device, sensor)``, ``("var", name)``,
``("not", node)``, ``("and", a, b)``, ``("or", a, b)``, ``("cmp", op, a, b)``."""

SensorValues: TypeAlias = Mapping[tuple[str, str], object]
"""The latest value of each sensor, by ``(device, sensor)``."""

MAX_LENGTH: Final = 500
"""Longer guard text is refused: a guard is a line in a configuration, not a program."""
MAX_DEPTH: Final = 32
"""Deeper nesting is refused, so the parser's recursion stays far from Python's limit."""

_NAME: Final = r"[a-z0-9][a-z0-9_-]*"
_TOKEN: Final = re.compile(
    rf"""
    (?P<space>\s+)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<paren>[()])
  | (?P<string>"[^"\\]*"|'[^'\\]*')
  | (?P<number>-?\d+(?:\.\d+)?(?![a-z0-9_.-]))
  | (?P<name>{_NAME}(?:\.{_NAME})?)
    """,
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "true", "false"})
_COMPARISONS: Final[dict[str, Callable[[object, object], bool]]] = {
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
ORDERING: Final = frozenset({"<", "<=", ">", ">="})


class ExpressionError(ValueError):
    """The text is not a valid guard; ``position`` is the 0-based index of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"position {position}: {message}")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # op, paren, string, number, name, keyword, end
    text: str
    position: int


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            hint = " (ids are lowercase)" if char.isupper() else ""
            raise ExpressionError(f"unexpected character {char!r}{hint}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "keyword"
            yield _Token(kind, word, position)
        position = match.end()
    yield _Token("end", "", len(text))


def is_number(value: object) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def comparable(a: object, b: object) -> bool:
    """Whether ``a`` and ``b`` can be compared: two numbers, or two values of one type."""
    if is_number(a) and is_number(b):
        return True
    return type(a) is type(b)


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
        self._tokens = list(_tokens(text))
        self._index = 0
        self._depth = 0

    @property
    def _next(self) -> _Token:
        return self._tokens[self._index]

    def _take(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _keyword(self, word: str) -> bool:
        return self._next.kind == "keyword" and self._next.text == word

    def parse(self) -> Node:
        if self._next.kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self._or()
        token = self._next
        if token.kind != "end":
            raise ExpressionError(
                f"expected 'and', 'or' or the end, found {token.text!r}", token.position
            )
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._keyword("or"):
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._keyword("and"):
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._keyword("not"):
            self._enter(self._take())
            node: Node = ("not", self._not())
            self._depth -= 1
            return node
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        if self._next.kind != "op":
            return left
        op = self._take()
        right = self._operand()
        if self._next.kind == "op":
            raise ExpressionError(
                "comparisons cannot be chained; join them with 'and'", self._next.position
            )
        if op.text in ORDERING:
            for side in (left, right):
                if side[0] == "lit" and not is_number(side[1]):
                    raise ExpressionError(f"'{op.text}' compares numbers", op.position)
        if left[0] == "lit" and right[0] == "lit" and not comparable(left[1], right[1]):
            raise ExpressionError("compares values of different types", op.position)
        return ("cmp", op.text, left, right)

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels", token.position)

    def _operand(self) -> Node:
        token = self._take()
        if token.kind == "paren" and token.text == "(":
            self._enter(token)
            node = self._or()
            self._depth -= 1
            closing = self._take()
            if closing.text != ")":
                raise ExpressionError(
                    f"expected ')' to close the '(' at position {token.position}",
                    closing.position,
                )
            return node
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            if not math.isfinite(number) or abs(number) >= 2**63:
                raise ExpressionError("number out of range", token.position)
            return ("lit", number)
        if token.kind == "string":
            return ("lit", token.text[1:-1])
        if token.kind == "keyword" and token.text in ("true", "false"):
            return ("lit", token.text == "true")
        if token.kind == "name":
            device, dot, sensor = token.text.partition(".")
            return ("sensor", device, sensor) if dot else ("var", device)
        found = "the end" if token.kind == "end" else repr(token.text)
        raise ExpressionError(
            f"expected a number, a string, true, false, a name or '(', found {found}",
            token.position,
        )


def parse(text: str) -> Node:
    """The tree of ``text``, or ``ExpressionError`` naming the position of the first problem."""
    return _Parser(text).parse()


def _children(node: Node) -> tuple[Node, ...]:
    kind = node[0]
    if kind == "not":
        return (node[1],)  # type: ignore[return-value]
    if kind in ("and", "or"):
        return (node[1], node[2])  # type: ignore[return-value]
    if kind == "cmp":
        return (node[2], node[3])  # type: ignore[return-value]
    return ()


def names(node: Node) -> Iterator[Node]:
    """Every ``("sensor", device, sensor)`` and ``("var", name)`` leaf of ``node``."""
    if node[0] in ("sensor", "var"):
        yield node
    for child in _children(node):
        yield from names(child)


def comparisons(node: Node) -> Iterator[tuple[str, Node, Node]]:
    """Every comparison in ``node`` as ``(op, left, right)``."""
    if node[0] == "cmp":
        yield node[1], node[2], node[3]  # type: ignore[misc]
    for child in _children(node):
        yield from comparisons(child)


def known(value: object) -> Value:
    """A reading's value as the language sees it; anything else (a location, NaN) is unknown."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def _truth(value: Value) -> bool | None:
    """A value used as a condition: booleans as they are; anything else is unknown."""
    return value if isinstance(value, bool) else None


def evaluate(node: Node, sensors: SensorValues, variables: Mapping[str, object]) -> Value:
    """The value of ``node``: ``True``, ``False``, a literal's value, or ``None`` (unknown)."""
    kind = node[0]
    if kind == "lit":
        return node[1]  # type: ignore[return-value]
    if kind == "sensor":
        return known(sensors.get((node[1], node[2])))  # type: ignore[arg-type]
    if kind == "var":
        return known(variables.get(str(node[1])))
    if kind == "not":
        value = _truth(evaluate(node[1], sensors, variables))  # type: ignore[arg-type]
        return None if value is None else not value
    if kind in ("and", "or"):
        stop = kind == "or"  # the value that decides: True for or, False for and
        left = _truth(evaluate(node[1], sensors, variables))  # type: ignore[arg-type]
        if left is stop:
            return stop
        right = _truth(evaluate(node[2], sensors, variables))  # type: ignore[arg-type]
        if right is stop:
            return stop
        return None if left is None or right is None else not stop
    op = node[1]
    left_value = evaluate(node[2], sensors, variables)  # type: ignore[arg-type]
    right_value = evaluate(node[3], sensors, variables)  # type: ignore[arg-type]
    if left_value is None or right_value is None or not comparable(left_value, right_value):
        return None
    if op in ORDERING and not is_number(left_value):
        return None
    return _COMPARISONS[op](left_value, right_value)  # type: ignore[index]


def describe(node: Node) -> str:
    """``node`` written back as text (normalised spacing), for messages."""
    kind = node[0]
    if kind == "lit":
        value = node[1]
        if isinstance(value, bool):
            return "true" if value else "false"
        return f'"{value}"' if isinstance(value, str) else repr(value)
    if kind == "sensor":
        return f"{node[1]}.{node[2]}"
    if kind == "var":
        return str(node[1])
    if kind == "not":
        return f"not {_grouped(node[1])}"  # type: ignore[arg-type]
    if kind in ("and", "or"):
        return f"{_grouped(node[1])} {kind} {_grouped(node[2])}"  # type: ignore[arg-type]
    return f"{describe(node[2])} {node[1]} {describe(node[3])}"  # type: ignore[arg-type]


def _grouped(node: Node) -> str:
    text = describe(node)
    return f"({text})" if node[0] in ("and", "or") else text


class Guard:
    """A parsed expression with its text: ``Guard("fridge.temperature < 8")``."""

    __slots__ = ("node", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.node = parse(text)

    def __call__(self, sensors: SensorValues, variables: Mapping[str, object]) -> bool:
        """Whether the guard passes: only a value of exactly ``True`` does."""
        return evaluate(self.node, sensors, variables) is True

    def value(self, sensors: SensorValues, variables: Mapping[str, object]) -> Value:
        """The three-valued result (``None`` when unknown)."""
        return evaluate(self.node, sensors, variables)

    def inputs(self, sensors: SensorValues, variables: Mapping[str, object]) -> str:
        """The values the guard read, for a message: ``fridge.temperature = 9.1``."""
        parts = []
        for name in dict.fromkeys(describe(leaf) for leaf in names(self.node)):
            device, dot, sensor = name.partition(".")
            value = known(sensors.get((device, sensor)) if dot else variables.get(device))
            parts.append(f"{name} = {'unknown' if value is None else describe(('lit', value))}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Guard({self.text!r})"
