"""Conditions on JSON values: comparisons at paths, combined with all / any / not.

Written as JSON, checked when saved (an unknown operator or a bad path is an error naming
its place), evaluated with plain comparisons:

    {"path": "rows", "op": ">=", "value": 1}
    {"all": [{"path": "state", "op": "eq", "value": "open"}, {"not": {...}}]}
    {"any": [...]}

Operators: eq ne gt gte lt lte (also == != > >= < <=), in, not_in, contains, matches (a
regular expression found anywhere; `^...$` to anchor), exists, missing. `null` is a value
like any other (`eq null` tests for it). Order comparisons hold only between numbers or
between strings; anything else is simply not true, with the reason in the verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskgate.domain.expressions.errors import ExpressionError
from taskgate.domain.expressions.paths import MISSING, Path, kind_of, parse_path, resolve

SYMBOLS = {"==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_WORDS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
MAX_PATTERN = 1000


@dataclass(frozen=True)
class Verdict:
    ok: bool
    # Why it holds or does not, in words a person reads: "rows is 0, expected ≥ 1".
    reason: str


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(actual: Any, expected: Any) -> bool:
    return (_number(actual) and _number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )


def _equal(actual: Any, expected: Any) -> bool:
    # JSON equality: 1 == 1.0, but true is not 1 and "1" is not 1.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, Sequence):
        return any(_equal(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(expected, str) and expected in actual
    return False


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda a, e: not _equal(a, e),
    "gt": lambda a, e: _ordered(a, e) and a > e,
    "gte": lambda a, e: _ordered(a, e) and a >= e,
    "lt": lambda a, e: _ordered(a, e) and a < e,
    "lte": lambda a, e: _ordered(a, e) and a <= e,
    "in": lambda a, e: any(_equal(a, item) for item in e),
    "not_in": lambda a, e: not any(_equal(a, item) for item in e),
    "contains": _contains,
}
OPERATORS = frozenset(_COMPARE) | {"matches", "exists", "missing"}


@dataclass(frozen=True)
class Comparison:
    path: Path
    op: str
    value: Any = None
    pattern: re.Pattern[str] | None = None

    def evaluate(self, subject: Any) -> Verdict:
        actual = resolve(self.path, subject)
        where = self.path.text or "the value"
        if self.op == "exists":
            return Verdict(
                actual is not MISSING,
                f"{where} {'is' if actual is not MISSING else 'is not'} there",
            )
        if self.op == "missing":
            return Verdict(
                actual is MISSING, f"{where} {'is not' if actual is MISSING else 'is'} there"
            )
        if actual is MISSING:
            return Verdict(False, f"{where} is not there")
        shown = _show(actual)
        if self.op == "matches":
            assert self.pattern is not None
            if not isinstance(actual, str):
                return Verdict(False, f"{where} is {kind_of(actual)}, not text to match")
            found = self.pattern.search(actual) is not None
            return Verdict(found, f"{where} is {shown}, expected to match {self.pattern.pattern!r}")
        holds = _COMPARE[self.op](actual, self.value)
        if self.op in ("gt", "gte", "lt", "lte") and not _ordered(actual, self.value):
            return Verdict(
                False,
                f"{where} is {shown} ({kind_of(actual)}), not comparable with {_show(self.value)}",
            )
        words = _WORDS.get(self.op, self.op.replace("_", " "))
        return Verdict(holds, f"{where} is {shown}, expected {words} {_show(self.value)}")


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]

    def evaluate(self, subject: Any) -> Verdict:
        for item in self.items:
            verdict = item.evaluate(subject)
            if not verdict.ok:
                return verdict
        return Verdict(True, "all hold")


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    def evaluate(self, subject: Any) -> Verdict:
        reasons = []
        for item in self.items:
            verdict = item.evaluate(subject)
            if verdict.ok:
                return verdict
            reasons.append(verdict.reason)
        return Verdict(False, "none holds: " + "; ".join(reasons) if reasons else "none given")


@dataclass(frozen=True)
class Not:
    item: Condition

    def evaluate(self, subject: Any) -> Verdict:
        verdict = self.item.evaluate(subject)
        return Verdict(not verdict.ok, f"not ({verdict.reason})")


Condition = Comparison | AllOf | AnyOf | Not


def comparison(path: str, op: str, value: Any = None, *, where: str = "") -> Comparison:
    """One comparison, checked: an unknown operator or a bad path is an ExpressionError
    located at `where` (`.op`, `.path`, `.value`)."""
    name = SYMBOLS.get(op, op)
    if name not in OPERATORS:
        known = ", ".join(sorted(OPERATORS | set(SYMBOLS)))
        raise ExpressionError(f"unknown operator {op!r} (known: {known})", where=_at(where, "op"))
    try:
        parsed = parse_path(path)
    except ExpressionError as exc:
        raise exc.at(_at(where, "path")) from None
    pattern = None
    if name == "matches":
        if not isinstance(value, str) or len(value) > MAX_PATTERN:
            raise ExpressionError(
                f"a pattern is text of at most {MAX_PATTERN} characters", where=_at(where, "value")
            )
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ExpressionError(
                f"not a regular expression: {exc}", where=_at(where, "value")
            ) from None
    if name in ("in", "not_in") and not isinstance(value, list):
        raise ExpressionError(f"{name} needs a list of values", where=_at(where, "value"))
    return Comparison(parsed, name, value, pattern)


def parse_condition(raw: Any, *, where: str = "") -> Condition:
    """A condition from its JSON form (see the module's docstring)."""
    if isinstance(raw, list):
        return AllOf(
            tuple(parse_condition(item, where=_at(where, str(i))) for i, item in enumerate(raw))
        )
    if not isinstance(raw, Mapping):
        raise ExpressionError("a condition is an object or a list of them", where=where)
    keys = set(raw)
    if keys == {"all"} or keys == {"any"}:
        (name,) = keys
        items = raw[name]
        if not isinstance(items, list) or not items:
            raise ExpressionError(f"{name} needs a non-empty list", where=_at(where, name))
        parsed = tuple(
            parse_condition(item, where=_at(where, f"{name}.{i}")) for i, item in enumerate(items)
        )
        return AllOf(parsed) if name == "all" else AnyOf(parsed)
    if keys == {"not"}:
        return Not(parse_condition(raw["not"], where=_at(where, "not")))
    unknown = keys - {"path", "op", "value"}
    if unknown or "path" not in raw or "op" not in raw:
        raise ExpressionError(
            "a comparison is {path, op, value}; or all, any, not"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""),
            where=where,
        )
    if not isinstance(raw["path"], str) or not isinstance(raw["op"], str):
        raise ExpressionError("path and op are text", where=where)
    return comparison(raw["path"], raw["op"], raw.get("value"), where=where)


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else _json(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
