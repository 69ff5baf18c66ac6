"""Selectors: how a caller names tasks, and what resolving them yields."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from taskgate.domain.errors import InvalidInput

# Selectors one start (or preview) may name at most; every door refuses more in its own words.
MAX_SELECTORS = 1000
UUID_LOWER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Qlik's task ids as Butler checks them: lower case, RFC 4122 version 0-5 and variant.
CANONICAL_TASK_ID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


class SelectorKind(StrEnum):
    ID = "id"
    LABEL = "label"
    NAME = "name"
    TAG = "tag"
    PROPERTY = "property"
    AUTO = "auto"  # bare text: an id when it is a UUID, else a label, else a name


class SelectorOutcome(StrEnum):
    MATCHED = "matched"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    DENIED = "denied"


@dataclass(frozen=True)
class Selector:
    kind: SelectorKind
    value: str
    property_name: str | None = None
    # A name selector that ignores case, as QRS looks tasks up by name. Not in the text
    # syntax: a door that needs it builds the selector itself.
    ignore_case: bool = False

    def names(self, task_name: str) -> bool:
        """Whether `task_name` is the name this NAME selector gives."""
        if self.ignore_case:
            return task_name.casefold() == self.value.casefold()
        return task_name == self.value

    def __str__(self) -> str:
        if self.kind is SelectorKind.PROPERTY:
            return f"property:{self.property_name}={self.value}"
        if self.kind is SelectorKind.AUTO:
            return self.value
        return f"{self.kind.value}:{self.value}"


_PREFIXES = {
    "id": SelectorKind.ID,
    "label": SelectorKind.LABEL,
    "name": SelectorKind.NAME,
    "tag": SelectorKind.TAG,
    "property": SelectorKind.PROPERTY,
    "prop": SelectorKind.PROPERTY,
}


def parse_selector(text: str) -> Selector:
    """Parse `id:…`, `label:…`, `name:…`, `tag:…`, `property:NAME=VALUE` or a bare id/label/name."""
    text = text.strip()
    if not text:
        raise InvalidInput("selector: must not be empty", field="selectors")
    prefix, sep, rest = text.partition(":")
    kind = _PREFIXES.get(prefix.lower()) if sep else None
    if kind is None:
        return Selector(SelectorKind.AUTO, text)
    if kind is SelectorKind.PROPERTY:
        name, eq, value = rest.partition("=")
        if not eq or not name:
            raise InvalidInput(
                f"selector {text!r}: a property selector is property:NAME=VALUE",
                field="selectors",
            )
        return Selector(kind, value, name)
    if not rest:
        raise InvalidInput(f"selector {text!r}: missing value after {prefix}:", field="selectors")
    return Selector(kind, rest)


def checked_selector(text: str) -> str:
    """`text` stripped, for a model's field validator: a bad selector as the ValueError that
    pydantic reports at the field."""
    try:
        parse_selector(text)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return text.strip()


def normalize_task_id(value: str) -> str | None:
    """The canonical lower-case form of a task id, or None when it is not a UUID."""
    if UUID_LOWER.fullmatch(value):
        return value  # already canonical: what UUID() and str() would give back, at a fifth
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def is_task_id(value: str, *, canonical: bool = False) -> bool:
    """A UUID in any case, or (canonical) exactly the lower-case form Qlik writes."""
    if canonical:
        return CANONICAL_TASK_ID.match(value) is not None
    return normalize_task_id(value) is not None


GROUP_KINDS = frozenset({SelectorKind.TAG, SelectorKind.PROPERTY})


@dataclass(frozen=True)
class TaskRef:
    id: str
    name: str
    enabled: bool = True


@dataclass
class Resolution:
    selector: Selector
    outcome: SelectorOutcome
    tasks: list[TaskRef] = field(default_factory=list)
    message: str = ""
    # Tasks the selector matched that the caller's allow-list keeps it from starting.
    denied_ids: list[str] = field(default_factory=list)
