"""executions listed by (created_at, id): the list's cursor is a row value that both databases
serve as one index range; lists by task, caller, status and task + status likewise

Revision ID: 0014_dash
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_dash"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_executions_created_at_id", "executions", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_executions_task_id_created_at_id",
        "executions",
        ["task_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_executions_caller_created_at_id",
        "executions",
        ["caller", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_executions_status_created_at_id",
        "executions",
        ["status", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_executions_task_id_status_created_at_id",
        "executions",
        ["task_id", "status", "created_at", "id"],
        unique=False,
    )
    # Their prefixes: each is served by its wider successor.
    op.drop_index("ix_executions_created_at", table_name="executions")
    op.drop_index("ix_executions_task_created_at", table_name="executions")
    op.drop_index("ix_executions_task_status", table_name="executions")


def downgrade() -> None:
    op.create_index("ix_executions_task_status", "executions", ["task_id", "status"], unique=False)
    op.create_index("ix_executions_created_at", "executions", ["created_at"], unique=False)
    op.create_index(
        "ix_executions_task_created_at", "executions", ["task_id", "created_at"], unique=False
    )
    op.drop_index("ix_executions_task_id_status_created_at_id", table_name="executions")
    op.drop_index("ix_executions_status_created_at_id", table_name="executions")
    op.drop_index("ix_executions_caller_created_at_id", table_name="executions")
    op.drop_index("ix_executions_task_id_created_at_id", table_name="executions")
    op.drop_index("ix_executions_created_at_id", table_name="executions")
