"""retention: executions by end time, webhook deliveries by creation time

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The housekeeping loop deletes the oldest first, a batch at a time, without a table scan.
    op.create_index("ix_executions_finished_at", "executions", ["finished_at"], unique=False)
    op.create_index(
        "ix_webhook_deliveries_created_at", "webhook_deliveries", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_created_at", table_name="webhook_deliveries")
    op.drop_index("ix_executions_finished_at", table_name="executions")
