"""checks: an execution's warnings and the moment its attempt passes max_duration; the
deadlines of tasks and the next one due

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON))
        batch.add_column(sa.Column("overrun_at", sa.DateTime(timezone=True)))
    op.create_index("ix_executions_overrun_at", "executions", ["overrun_at"], unique=False)
    op.create_table(
        "deadlines",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("next_due", sa.DateTime(timezone=True)),
        sa.Column("last_due", sa.DateTime(timezone=True)),
        sa.Column("last_outcome", sa.String(16), nullable=False),
        sa.Column("last_message", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_deadlines_task_id_tasks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name="pk_deadlines"),
    )
    op.create_index("ix_deadlines_next_due", "deadlines", ["next_due"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deadlines_next_due", table_name="deadlines")
    op.drop_table("deadlines")
    op.drop_index("ix_executions_overrun_at", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("overrun_at")
        batch.drop_column("warnings")
