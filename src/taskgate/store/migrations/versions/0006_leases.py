"""leases: the process that runs an execution, and until when its claim holds

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("instance", sa.String(200)))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
    # The sweep looks for running executions whose lease has ended.
    op.create_index(
        "ix_executions_status_lease_until", "executions", ["status", "lease_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_executions_status_lease_until", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("instance")
