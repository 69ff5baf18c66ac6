"""Parameter validation: declared params are typed, checked and defaulted in one place."""

from __future__ import annotations

import json
import re
from typing import Any

from taskgate.domain.errors import InvalidInput
from taskgate.domain.tasks import ParamSpec, ParamType
from taskgate.domain.text import refuse_bad_text

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
MAX_PARAMS_BYTES = 256 * 1024


def _coerce(spec: ParamSpec, value: Any) -> Any:
    field = f"params.{spec.name}"
    match spec.type:
        case ParamType.STRING:
            if isinstance(value, str):
                return value
            if isinstance(value, bool | int | float):
                return json.dumps(value)
        case ParamType.INT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                try:
                    return int(value)
                except ValueError:  # more digits than Python converts (4,300)
                    raise InvalidInput(f"{field}: too many digits", field=field) from None
        case ParamType.FLOAT:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
        case ParamType.BOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
        case ParamType.JSON:
            if not isinstance(value, str):
                return value
            try:
                return json.loads(value)
            except (ValueError, RecursionError):
                raise InvalidInput(f"{field}: not valid JSON", field=field) from None
    raise InvalidInput(f"{field}: expected {spec.type.value}, got {value!r}", field=field)


def validate_params(declared: list[ParamSpec], given: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters a run gets: given values coerced, defaults filled in.

    Undeclared parameters pass through unchanged, so one start can feed several tasks.
    """
    refuse_bad_text(given, "params")
    result = dict(given)
    for spec in declared:
        if spec.name in given and given[spec.name] is not None:
            result[spec.name] = _coerce(spec, given[spec.name])
        elif spec.default is not None:
            result[spec.name] = spec.default
        elif spec.required:
            field = f"params.{spec.name}"
            raise InvalidInput(f"{field}: required parameter is missing", field=field)
    if len(json.dumps(result)) > MAX_PARAMS_BYTES:
        raise InvalidInput(f"params: larger than {MAX_PARAMS_BYTES} bytes", field="params")
    return result


def env_name(name: str) -> str:
    return "TASKGATE_PARAM_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
