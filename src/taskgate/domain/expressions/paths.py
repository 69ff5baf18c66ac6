"""Paths into JSON values: `rows`, `result.items[0].name`, `items[-1]`, `headers.Content-Type`,
`data.0` (a number after a dot indexes a list, or is a key of an object), `["a.b"]` (a key
with dots or spaces), `lst.(idx).k` (indirection: the value at `idx` is the next key).

A path is parsed once (errors name the character) and then resolved against any value; what
it does not find is `MISSING`, with the reason, never an exception in the middle of a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from taskgate.domain.expressions.errors import ExpressionError, MissingValue


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

# A plain segment: anything but the delimiters and white space, so keys such as
# `Content-Type`, `urn:uuid:1` or Jaseci's roots `#`, `$`, `@`, `!` need no quoting.
_NAME = re.compile(r"""[^.\[\]()\s{}|?"']+""")
_INDEX = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Key:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Index:
    number: int

    def __str__(self) -> str:
        return f"[{self.number}]"


@dataclass(frozen=True)
class Indirect:
    """A segment whose name is the value found at another path (resolved from the root)."""

    path: Path

    def __str__(self) -> str:
        return f"({self.path.text})"


Step = Key | Index | Indirect


@dataclass(frozen=True)
class Path:
    steps: tuple[Step, ...]
    text: str

    def __str__(self) -> str:
        return self.text

    @property
    def root(self) -> str | None:
        """The first key, for callers whose data is a scope of named roots."""
        first = self.steps[0] if self.steps else None
        return first.name if isinstance(first, Key) else None

    def lookup(self, subject: Any) -> Any:
        """The value at this path in `subject`; MissingValue (naming the path) if none."""
        value, why = walk(self, subject, subject)
        if value is MISSING:
            raise MissingValue(self.text, why)
        return value


def parse_path(text: str) -> Path:
    """Read a path; `""` is the subject itself. ExpressionError names the bad character."""
    parser = _Parser(text)
    path = parser.path(top=True)
    if parser.pos != len(text):
        parser.fail("unexpected character")
    return path


def resolve(path: Path, subject: Any) -> Any:
    """The value at `path` in `subject`, or MISSING."""
    return walk(path, subject, subject)[0]


def walk(path: Path, subject: Any, root: Any) -> tuple[Any, str]:
    """The value at `path` (indirections resolved from `root`), or MISSING and why."""
    value = subject
    walked = ""
    for step in path.steps:
        if isinstance(step, Indirect):
            name, why = walk(step.path, root, root)
            if name is MISSING:
                return MISSING, f"({step.path.text}) finds nothing: {why}"
            if isinstance(name, bool) or not isinstance(name, str | int):
                return MISSING, f"({step.path.text}) is {kind_of(name)}, not a key or an index"
            step = Index(name) if isinstance(name, int) else Key(name)
        walked = f"{walked}{'' if isinstance(step, Index) or not walked else '.'}{step}"
        value, why = _step(value, step)
        if value is MISSING:
            return MISSING, why if walked == path.text else f"at {walked}: {why}"
    return value, ""


def _step(value: Any, step: Key | Index) -> tuple[Any, str]:
    if isinstance(value, Mapping):
        key = step.name if isinstance(step, Key) else str(step.number)
        if key in value:
            return value[key], ""
        return MISSING, f"no key {key!r}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if isinstance(step, Key):
            if not _INDEX.fullmatch(step.name):
                return MISSING, f"a list has no key {step.name!r}"
            number = int(step.name)
        else:
            number = step.number
        if -len(value) <= number < len(value):
            return value[number], ""
        return MISSING, f"index {number} is out of range ({len(value)} items)"
    return MISSING, f"{kind_of(value)} has no {'key' if isinstance(step, Key) else 'index'} {step}"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> None:
        raise ExpressionError(
            f"{message} at character {self.pos + 1} of path {self.text!r}", position=self.pos
        )

    def path(self, *, top: bool) -> Path:
        start = self.pos
        steps: list[Step] = []
        if self._at_end(top):
            return Path((), "")
        steps.append(self.segment(first=True))
        while not self._at_end(top):
            char = self.text[self.pos]
            if char == ".":
                self.pos += 1
                steps.append(self.segment(first=False))
            elif char == "[":
                steps.append(self.bracket())
            else:
                self.fail("expected '.' or '['")
        return Path(tuple(steps), self.text[start : self.pos])

    def _at_end(self, top: bool) -> bool:
        if self.pos >= len(self.text):
            return True
        return not top and self.text[self.pos] == ")"

    def segment(self, *, first: bool) -> Step:
        if self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "[" and first:
                return self.bracket()
            if char == "(":
                self.pos += 1
                inner = self.path(top=False)
                if self.pos >= len(self.text) or self.text[self.pos] != ")":
                    self.fail("expected ')'")
                self.pos += 1
                if not inner.steps:
                    self.fail("empty indirection")
                return Indirect(inner)
        match = _NAME.match(self.text, self.pos)
        if match is None:
            self.fail("expected a key")
            raise AssertionError  # unreachable: fail raises
        self.pos = match.end()
        return Key(match.group())

    def bracket(self) -> Step:
        self.pos += 1  # the '['
        rest = self.text[self.pos :]
        number = _INDEX.match(rest)
        if number is not None and rest[number.end() : number.end() + 1] == "]":
            self.pos += number.end() + 1
            return Index(int(number.group()))
        if rest[:1] == '"':
            try:
                key, length = json.JSONDecoder().raw_decode(rest)
            except ValueError:
                self.fail("a quoted key must be a JSON string")
            if rest[length : length + 1] != "]":
                self.pos += length
                self.fail("expected ']'")
            self.pos += length + 1
            return Key(key)
        self.fail("expected a number or a quoted key in '[...]'")
        raise AssertionError  # unreachable: fail raises
