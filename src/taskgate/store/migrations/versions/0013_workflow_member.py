"""workflow member: which member of its workflow's phase an execution runs for

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
# The other work of issue 15 adds revisions 0009-0012: whichever lands last revises the head.
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("member", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("member")
