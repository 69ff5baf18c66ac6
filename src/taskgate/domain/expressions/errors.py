"""Errors of the expression language: each names where in its input the problem is."""

from __future__ import annotations


class ExpressionError(ValueError):
    """A path, condition or template that cannot be read; `where` is the JSON path of the
    offending part of the input (for a 422 that names the field), `position` the character
    in a text, when there is one."""

    def __init__(self, message: str, *, where: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.position = position

    def at(self, where: str) -> ExpressionError:
        """The same error, located under `where` (the caller's place in its own input)."""
        inner = f"{where}.{self.where}" if self.where else where
        return type(self)(self.message, where=inner, position=self.position)


class MissingValue(LookupError):
    """A path that leads nowhere in the data it is resolved against."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why
