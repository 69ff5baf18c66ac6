"""Jaseci's syntax for templates, paths and filters, read onto the one expression language.

A Jaseci ScheduledSequence writes `{{#.login.token}}` (roots `#` persistence, `$` current,
`@` loop item, `!` loop index) and filters such as
`[{"by": "$.state", "condition": {"eq": "open"}}, {"or": [...]}]`. Both become the trees of
`paths`, `templates` and `conditions`, so there is one evaluator; this module only reads the
syntax and checks it when a sequence is saved:

- a path's first segment must be one of the four roots;
- a filter element is `{by, condition}`, `{or: [...]}` or `{and: [...]}`, and every operator
  is known (Jaseci's `regex` is `matches`); anything else is an error, not silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from taskgate.domain.expressions.conditions import (
    OPERATORS,
    SYMBOLS,
    AllOf,
    AnyOf,
    Condition,
    comparison,
)
from taskgate.domain.expressions.errors import ExpressionError
from taskgate.domain.expressions.paths import Indirect, Path, parse_path
from taskgate.domain.expressions.templates import (
    Placeholder,
    Template,
    check_deep,
    parse_template,
)

PERSISTENCE = "#"
CURRENT = "$"
ITEM = "@"
INDEX = "!"
# taskgate's addition: the key-value values of the task's kv_namespaces, `kv.<ns>.<key>`.
KV = "kv"
ROOTS = frozenset({PERSISTENCE, CURRENT, ITEM, INDEX, KV})
# Jaseci's operator names onto ours: only `regex` differs.
_OPERATOR_NAMES = {"regex": "matches"}
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_]")


def scope(persistence: Any, current: Any, item: Any, index: str, kv: Any = None) -> dict[str, Any]:
    """What a placeholder or a filter path is resolved against."""
    return {PERSISTENCE: persistence, CURRENT: current, ITEM: item, INDEX: index, KV: kv or {}}


def sanitize_key(name: str) -> str:
    """A persistence key as Jaseci writes it: every character outside [A-Za-z0-9_] is `_`."""
    return _UNSAFE_KEY.sub("_", name)


def jaseci_path(text: str, *, where: str = "") -> Path:
    """A Jaseci path (`$.data.0`, `#.lst.(!).k`, `@.items[-1]`), its root checked."""
    try:
        path = parse_path(text)
    except ExpressionError as exc:
        raise exc.at(where) if where else exc from None
    _check_roots(path, where)
    return path


def jaseci_template(text: str, *, where: str = "") -> Template:
    """A template whose placeholders are Jaseci paths."""
    template = parse_template(text, where=where)
    for part in template.parts:
        if isinstance(part, Placeholder):
            _check_roots(part.path, where)
    return template


def check_templates(value: Any, *, where: str = "") -> None:
    """Every string in `value` (keys too, at any depth) is a template of Jaseci paths."""
    check_deep(value, where=where, parse=jaseci_template)


def parse_filter(raw: Any, *, where: str = "") -> Condition:
    """A Jaseci filter list (AND of its elements; empty: true) as a condition."""
    if not isinstance(raw, list):
        raise ExpressionError("a filter is a list of elements", where=where)
    return AllOf(tuple(_element(item, _at(where, str(i))) for i, item in enumerate(raw)))


def _element(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise ExpressionError("a filter element is an object", where=where)
    keys = set(raw)
    if keys in ({"or"}, {"and"}):
        (name,) = keys
        items = raw[name]
        if not isinstance(items, list):
            raise ExpressionError(f"{name} needs a list", where=_at(where, name))
        parsed = tuple(_element(item, _at(where, f"{name}.{i}")) for i, item in enumerate(items))
        return AllOf(parsed) if name == "and" else AnyOf(parsed)
    if keys != {"by", "condition"}:
        raise ExpressionError(
            "a filter element is {by, condition}, {or: [...]} or {and: [...]}"
            f" (found: {', '.join(sorted(map(str, keys))) or 'nothing'})",
            where=where,
        )
    by, condition = raw["by"], raw["condition"]
    if not isinstance(by, str):
        raise ExpressionError("by is a path, as text", where=_at(where, "by"))
    path = jaseci_path(by, where=_at(where, "by"))
    if not isinstance(condition, Mapping) or not condition:
        raise ExpressionError(
            'condition is an object of operators, such as {"eq": 1}',
            where=_at(where, "condition"),
        )
    checks = []
    for op, expected in condition.items():
        name = _OPERATOR_NAMES.get(op, op)
        if name not in OPERATORS and name not in SYMBOLS:
            known = ", ".join(sorted(OPERATORS | set(_OPERATOR_NAMES)))
            raise ExpressionError(
                f"unknown operator {op!r} (known: {known})", where=_at(where, f"condition.{op}")
            )
        try:
            checks.append(comparison(path.text, name, expected))
        except ExpressionError as exc:
            raise ExpressionError(exc.message, where=_at(where, f"condition.{op}")) from None
    return checks[0] if len(checks) == 1 else AllOf(tuple(checks))


def _check_roots(path: Path, where: str) -> None:
    root = path.root
    if root not in ROOTS:
        raise ExpressionError(
            f"path {path.text!r} must start with one of # (persistence), $ (current), "
            "@ (loop item), ! (loop index), kv (key-value values)",
            where=where,
        )
    for step in path.steps:
        if isinstance(step, Indirect):
            _check_roots(step.path, where)


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
