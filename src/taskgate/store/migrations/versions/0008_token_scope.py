"""token scope: the key-value namespaces an execution's token may use

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL on executions made before: their tokens may use no namespace (the safe reading).
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("kv_namespaces", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("kv_namespaces")
