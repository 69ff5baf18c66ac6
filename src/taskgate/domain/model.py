"""The base of every model a person or a door writes (tasks, schedules, bodies, config)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from taskgate.domain.text import BAD_TEXT, bad_text_at


class Strict(BaseModel):
    """Unknown fields are an error, so a typo never silently changes anything; and no string
    anywhere in it, however deep (parameters, properties, meta), may hold a NUL or a lone
    surrogate (domain/text.py): the one text rule, for every model that comes in."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _edge_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = bad_text_at(data)
            if found is not None:
                # pydantic's location stops at this model; `ctx.field` names the string in it.
                field, problem = found
                raise PydanticCustomError(
                    BAD_TEXT, "{field}: {problem}", {"field": field, "problem": problem}
                )
        return data
