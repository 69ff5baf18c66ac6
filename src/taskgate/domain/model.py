"""The base of every model a person writes (tasks, config sections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown fields are an error, so a typo never silently changes anything."""

    model_config = ConfigDict(extra="forbid")
