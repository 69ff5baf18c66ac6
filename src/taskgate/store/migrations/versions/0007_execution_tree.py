"""execution tree: an execution's parent (a workflow), its phase, and the state of an
execution that waits without a process (parked)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(36)))
        batch.add_column(sa.Column("phase", sa.Integer))
        batch.add_column(sa.Column("parked", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("state", sa.JSON))
    op.create_index("ix_executions_parent_id", "executions", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_executions_parent_id", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("state")
        batch.drop_column("parked")
        batch.drop_column("phase")
        batch.drop_column("parent_id")
