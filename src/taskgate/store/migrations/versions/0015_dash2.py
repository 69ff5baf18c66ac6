"""an execution's history: its webhook deliveries by execution, and a chain rule's firings by
time, each one index range (store/history.py)

Revision ID: 0015_dash2
Revises: 0015_celery2
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_dash2"
down_revision: str | None = "0015_celery2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_execution_id", "webhook_deliveries", ["execution_id"], unique=False
    )
    op.create_index(
        "ix_chain_firings_chain_id_at", "chain_firings", ["chain_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_chain_firings_chain_id_at", table_name="chain_firings")
    op.drop_index("ix_webhook_deliveries_execution_id", table_name="webhook_deliveries")
