"""A small, safe expression language over JSON values, shared by every part that looks into a
run's data: paths (`result.rows[0].name`), conditions (`{"path": "rows", "op": ">=",
"value": 1}`, combined with all/any/not) and templates (`"token {{ login.token }}"`).

Nothing here evaluates code: a path walks dicts and lists, a condition compares, a template
substitutes. Adapters for other syntaxes (Jaseci's filters and `{{#.a}}` placeholders) build
the same trees.
"""

from taskgate.domain.expressions.conditions import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Not,
    Verdict,
    parse_condition,
)
from taskgate.domain.expressions.errors import ExpressionError, MissingValue
from taskgate.domain.expressions.paths import MISSING, Path, parse_path, resolve
from taskgate.domain.expressions.templates import (
    Template,
    as_text,
    check_deep,
    parse_template,
    render_deep,
)

__all__ = [
    "MISSING",
    "AllOf",
    "AnyOf",
    "Comparison",
    "Condition",
    "ExpressionError",
    "MissingValue",
    "Not",
    "Path",
    "Template",
    "Verdict",
    "as_text",
    "check_deep",
    "parse_condition",
    "parse_path",
    "parse_template",
    "render_deep",
    "resolve",
]
