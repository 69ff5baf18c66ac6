"""schedules and their fire history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("next_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fire_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_schedules_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_schedules_enabled_next_fire_at", ["enabled", "next_fire_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_schedules_task_id"), ["task_id"], unique=False)

    op.create_table(
        "schedule_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late_ms", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_history_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_history")),
    )
    with op.batch_alter_table("schedule_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedule_history_recorded_at"), ["recorded_at"], unique=False
        )
        batch_op.create_index(
            "ix_schedule_history_schedule_id_id", ["schedule_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("schedule_history", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_history_schedule_id_id")
        batch_op.drop_index(batch_op.f("ix_schedule_history_recorded_at"))

    op.drop_table("schedule_history")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_task_id"))
        batch_op.drop_index("ix_schedules_enabled_next_fire_at")

    op.drop_table("schedules")
