"""end reason: why an execution (and each attempt) ended, who aborted it, when its process
was last seen

Revision ID: 0014_hard
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_hard"
down_revision: str | None = "0014_dash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("end_reason", sa.String(20)))
        batch.add_column(sa.Column("aborted_by", sa.String(200)))
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("end_reason", sa.String(20)))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("end_reason")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("seen_at")
        batch.drop_column("aborted_by")
        batch.drop_column("end_reason")
