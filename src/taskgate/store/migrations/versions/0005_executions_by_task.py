"""executions indexed by task and creation time

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A task's newest executions (its last result, its history page) without a table scan.
    op.create_index(
        "ix_executions_task_created_at", "executions", ["task_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_executions_task_created_at", table_name="executions")
