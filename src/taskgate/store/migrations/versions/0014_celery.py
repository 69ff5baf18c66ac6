"""celery: when an execution's message was last published to the broker

Revision ID: 0014_celery
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_celery"
down_revision: str | None = "0014_hard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("published_at")
