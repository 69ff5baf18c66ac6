"""The settings reference, written from the settings models themselves: every setting with
its type, default, environment variable and description, as Markdown. `scripts/gen_config_docs.py`
puts it into docs/configuration.md; a test fails when the file is out of date."""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from taskgate.config.settings import ENV_PREFIX, SHORT_NAMES, Settings

BEGIN = "<!-- BEGIN GENERATED SETTINGS: scripts/gen_config_docs.py writes this part -->"
END = "<!-- END GENERATED SETTINGS -->"
# Lists of entries documented elsewhere by hand (the tasks, with their actions).
DOCUMENTED_ELSEWHERE = {"tasks": "the [Tasks](#tasks) section below"}


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    default: str
    env: str
    description: str


@dataclass(frozen=True)
class Section:
    path: str  # "server", "mqtt.tls", "qlik.sites[]"
    doc: str
    rows: list[Row]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (directly or as `Model | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return _model_of(models[0])
    return None


def _list_model_of(annotation: Any) -> type[BaseModel] | None:
    """The entry model of a `list[Model]` field, if it is one."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return _model_of(item)
    return None


def type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in args)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "section"
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        simple = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
        return simple.get(annotation, annotation.__name__)
    return str(annotation)


def _limits(field: FieldInfo) -> str:
    words: list[str] = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                words.append(f"{sign} {getattr(item, attr)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            words.append(f"at least {item.min_length} characters")
        if isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {item.max_length} characters")
    return ", ".join(words)


def _value(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(str(_plain(v)) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    return f"`{value}`"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "default_doc" in extra:
        # A default that depends on the machine (the host name) is described, not shown.
        return str(extra["default_doc"])
    if field.default_factory is not None:
        factory: Any = field.default_factory
        if isinstance(factory, type) and issubclass(factory, BaseModel):
            return "(section)"
        return _value(factory())
    if field.default is PydanticUndefined:
        return "**required**"
    return _value(field.default)


def _env_name(path: list[str]) -> str:
    name = ENV_PREFIX + "__".join(part.upper() for part in path)
    short = [v for v, target in SHORT_NAMES.items() if list(target) == path]
    return " ".join(f"`{n}`" for n in dict.fromkeys([*short, name]))


def _aliases(field: FieldInfo, name: str) -> str:
    choices = getattr(field.validation_alias, "choices", None) or []
    others = [c for c in choices if isinstance(c, str) and c != name]
    return f" Also accepted as {', '.join(f'`{o}`' for o in others)}." if others else ""


def _doc(model: type[BaseModel]) -> str:
    text = (model.__doc__ or "").strip()
    if not text or text.startswith(("Usage docs", "A base class")):
        return ""
    return " ".join(text.split("\n\n")[0].split())


def sections(
    model: type[BaseModel] = Settings, path: list[str] | None = None, env: bool = True
) -> Iterator[Section]:
    """The model's own fields as one section, then each nested section, depth first."""
    path = path or []
    rows: list[Row] = []
    nested: list[tuple[list[str], type[BaseModel], bool]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        kind = type_name(annotation)
        limits = _limits(field)
        inner, entries = _model_of(annotation), _list_model_of(annotation)
        description = (field.description or "").strip()
        where = [*path, name]
        if inner is not None:
            kind = "section" + (" or null" if "null" in kind else "")
            nested.append((where, inner, env))
            description = description or _doc(inner)
            description += f" See [{'.'.join(where)}](#{_anchor('.'.join(where))})."
        elif entries is not None:
            kind = "list of entries"
            label = ".".join(where)
            if label in DOCUMENTED_ELSEWHERE:
                description += f" See {DOCUMENTED_ELSEWHERE[label]}."
            else:
                nested.append(([*path, f"{name}[]"], entries, False))
                description += f" Each entry: see [{label}[]](#{_anchor(label + '[]')})."
        rows.append(
            Row(
                name=f"`{name}`",
                type=kind + (f" ({limits})" if limits else ""),
                default=default_text(field),
                # A whole section could be given as JSON too; its fields' variables are the
                # useful ones.
                env=_env_name(where) if env and inner is None else "",
                description=(description + _aliases(field, name)).strip(),
            )
        )
    if rows or not path:
        yield Section(".".join(path) or "top level", _doc(model) if path else "", rows)
    for where, inner, inner_env in nested:
        yield from sections(inner, where, inner_env)


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading `### title`."""
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def render() -> str:
    """The generated part of docs/configuration.md, between its markers."""
    lines = [
        BEGIN,
        "",
        "## Settings",
        "",
        "Every setting, from the settings models in `src/taskgate/config/`. Regenerate this",
        "part after changing a setting: `.venv/bin/python scripts/gen_config_docs.py` (the",
        "test `tests/config/test_reference.py` fails while it is out of date). A section's",
        "fields are also environment variables, `TASKGATE_<SECTION>__<FIELD>`; entries of a",
        "list (`[]`) are set in the file, or as JSON in the list's variable.",
    ]
    for section in sections():
        lines += ["", f"### {section.path}", ""]
        if section.doc:
            lines += [section.doc, ""]
        with_env = any(row.env for row in section.rows)
        header = ["setting", "type", "default", *(["environment"] if with_env else [])]
        lines.append("| " + " | ".join([*header, "description"]) + " |")
        lines.append("|" + "---|" * (len(header) + 1))
        for row in section.rows:
            cells = [row.name, row.type, row.default, *([row.env] if with_env else [])]
            lines.append("| " + " | ".join(_cell(c) for c in [*cells, row.description]) + " |")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def replace_generated(document: str) -> str:
    """The document with its generated part written anew (markers must be there)."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return document[:start] + render() + document[end + len(END) + 1 :]


def undocumented() -> list[str]:
    """Settings without a description (the generator names them, so they get one)."""
    return [
        f"{section.path}.{row.name.strip('`')}"
        for section in sections()
        for row in section.rows
        if not row.description
    ]
