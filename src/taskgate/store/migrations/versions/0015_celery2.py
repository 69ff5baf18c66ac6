"""celery2: the due executions not yet published, found through an index

The Celery nodes ask every second which waiting executions have no message yet: a partial
index of exactly those rows, by creation time, answers it however many ended or already
published executions the table holds.

Revision ID: 0015_celery2
Revises: 0014_celery
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_celery2"
down_revision: str | None = "0014_celery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNPUBLISHED = "published_at IS NULL AND status IN ('queued', 'retry')"


def upgrade() -> None:
    # Partial on PostgreSQL (the Celery executor's database); plain on SQLite, which never
    # asks the question.
    where = sa.text(UNPUBLISHED) if op.get_bind().dialect.name == "postgresql" else None
    op.create_index(
        "ix_executions_unpublished",
        "executions",
        ["created_at"],
        unique=False,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_executions_unpublished", table_name="executions")
