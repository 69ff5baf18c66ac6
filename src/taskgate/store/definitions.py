"""Definitions a table keeps as a JSON `spec` beside a few columns of their own (chain rules,
webhooks): the one rule for what goes into `spec` and how a row becomes the model again.

Each kind names once the fields it keeps in columns (looked up, counted, or set by the store
rather than by the definition); the rest of the model is its `spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class DefinitionRows(Generic[M]):
    table: sa.Table
    model: type[M]
    # The model's fields kept in columns of their own; `id` and `created_at` among them.
    columns: tuple[str, ...]
    # Columns written once, when the row is made, and then only by the store (counters).
    on_insert: Mapping[str, Any] = field(default_factory=dict)

    def parse(self, row: sa.Row[Any]) -> M:
        return self.model.model_validate(
            {**row.spec, **{name: getattr(row, name) for name in self.columns}}
        )

    def get(self, conn: Connection, item_id: str) -> M | None:
        row = conn.execute(sa.select(self.table).where(self.table.c.id == item_id)).first()
        return self.parse(row) if row else None

    def listing(self, conn: Connection) -> list[M]:
        """All of them, oldest first."""
        table = self.table
        rows = conn.execute(sa.select(table).order_by(table.c.created_at, table.c.id))
        return [self.parse(r) for r in rows]

    def save(self, conn: Connection, item: M, *, insert: bool) -> None:
        own = {name: getattr(item, name) for name in self.columns}
        made = {"id": own.pop("id"), "created_at": own.pop("created_at")}
        values = {name: value for name, value in own.items() if name not in self.on_insert}
        values["spec"] = item.model_dump(mode="json", exclude=set(self.columns))
        if insert:
            conn.execute(self.table.insert().values(**made, **self.on_insert, **values))
        else:
            table = self.table
            conn.execute(table.update().where(table.c.id == made["id"]).values(**values))
