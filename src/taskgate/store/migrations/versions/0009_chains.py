"""chain rules: the rules, their open windows, their firings, and what a chained execution
names (its rule, the ends that fired it, its depth)

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("chain_id", sa.String(64)))
        batch.add_column(sa.Column("triggered_by", sa.JSON))
        batch.add_column(sa.Column("chain_depth", sa.Integer))
    op.create_table(
        "chains",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("fire_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chains")),
    )
    op.create_table(
        "chain_windows",
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("met", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["chains.id"],
            name=op.f("fk_chain_windows_chain_id_chains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_chain_windows")),
    )
    op.create_index("ix_chain_windows_expires_at", "chain_windows", ["expires_at"], unique=False)
    op.create_table(
        "chain_firings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("triggered_by", sa.JSON(), nullable=False),
        sa.Column("execution_ids", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_firings")),
        sa.UniqueConstraint("chain_id", "key", name=op.f("uq_chain_firings_chain_id_key")),
    )
    op.create_index(
        "ix_chain_firings_chain_id_id", "chain_firings", ["chain_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_chain_firings_chain_id_id", table_name="chain_firings")
    op.drop_table("chain_firings")
    op.drop_index("ix_chain_windows_expires_at", table_name="chain_windows")
    op.drop_table("chain_windows")
    op.drop_table("chains")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("chain_depth")
        batch.drop_column("triggered_by")
        batch.drop_column("chain_id")
