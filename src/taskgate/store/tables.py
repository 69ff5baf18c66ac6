"""The schema. Migrations in `migrations/versions` must produce exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on both engines (SQLite keeps no offset of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("label", sa.String(128), unique=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

task_tags = sa.Table(
    "task_tags",
    metadata,
    sa.Column("task_id", sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True, index=True),
)

task_properties = sa.Table(
    "task_properties",
    metadata,
    sa.Column("task_id", sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Index("ix_task_properties_name_value", "name", "value"),
)

# The rows of ix_executions_unpublished on PostgreSQL; the query must say it in these words
# (literal values, not parameters), or the planner cannot prove that the index holds them.
UNPUBLISHED_SQL = "published_at IS NULL AND status IN ('queued', 'retry')"
UNPUBLISHED = sa.text(UNPUBLISHED_SQL)
PARTIAL_INDEXES = {"ix_executions_unpublished": ("executions", "created_at", UNPUBLISHED_SQL)}

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("task_spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("caller", sa.String(200), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("not_before", UTCDateTime),
    sa.Column("attempt_count", sa.Integer, nullable=False, default=0),
    sa.Column("exit_code", sa.Integer),
    sa.Column("node", sa.String(200)),
    # The server process that runs it now, and until when its claim holds unless renewed.
    sa.Column("instance", sa.String(200)),
    sa.Column("lease_until", UTCDateTime),
    # The execution this one runs for (a workflow), and which of its phases.
    sa.Column("parent_id", sa.String(36), index=True),
    sa.Column("phase", sa.Integer),
    # Its member's name in that phase (how `from` paths and the workflow's tree name it).
    sa.Column("member", sa.String(200)),
    # Started, but waiting without a process (a workflow on its members): no slot, no lease.
    sa.Column("parked", sa.Boolean, nullable=False, server_default=sa.false(), default=False),
    # What an action keeps between its steps (a workflow's progress), as JSON.
    sa.Column("state", sa.JSON),
    sa.Column("result", sa.JSON),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("log_size", sa.Integer, nullable=False, default=0),
    sa.Column("log_dropped", sa.Integer, nullable=False, default=0),
    # The key-value namespaces the execution's token may use ("*": all); NULL: none.
    sa.Column("kv_namespaces", sa.JSON),
    # Checks (domain/checks.py): the warnings the run earned, and when its current attempt
    # passes max_duration (NULL: no bound, or the passing has been announced).
    sa.Column("warnings", sa.JSON),
    sa.Column("overrun_at", UTCDateTime, index=True),
    # A chained start: the chain rule, the executions whose ends fired it, and how many chain
    # steps led to it (the run-time cap on runaway chains counts these).
    sa.Column("chain_id", sa.String(64)),
    sa.Column("triggered_by", sa.JSON),
    sa.Column("chain_depth", sa.Integer),
    # Why it ended (domain/status.py EndReason), who asked for its abort, and when its server
    # process last renewed its lease (a run whose process died ended then, not when found).
    sa.Column("end_reason", sa.String(20)),
    sa.Column("aborted_by", sa.String(200)),
    sa.Column("seen_at", UTCDateTime),
    # Celery executor: when a message for its current wait was last sent (NULL: not yet).
    sa.Column("published_at", UTCDateTime),
    # Busy counts per task and status; and one task's list filtered by status, newest first.
    sa.Index("ix_executions_task_id_status_created_at_id", "task_id", "status", "created_at", "id"),
    sa.Index("ix_executions_status_not_before", "status", "not_before"),
    # Lists, newest first, paged by (created_at, id) (store/executions.listing): all of them,
    # one task's, one caller's.
    sa.Index("ix_executions_created_at_id", "created_at", "id"),
    sa.Index("ix_executions_task_id_created_at_id", "task_id", "created_at", "id"),
    sa.Index("ix_executions_caller_created_at_id", "caller", "created_at", "id"),
    sa.Index("ix_executions_status_created_at_id", "status", "created_at", "id"),
    sa.Index("ix_executions_status_lease_until", "status", "lease_until"),
    # Celery: the waiting executions not yet published, oldest first (store/publishing.due_query,
    # asked every second). On PostgreSQL it holds only those rows (WHERE UNPUBLISHED, added by
    # store/db.py and migration 0015: a dialect keyword here would load PostgreSQL's dialect
    # into every SQLite server).
    sa.Index("ix_executions_unpublished", "created_at"),
    # Retention: the executions that ended longest ago first.
    sa.Index("ix_executions_finished_at", "finished_at"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("execution_id", sa.String(36), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("node", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("exit_code", sa.Integer),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("end_reason", sa.String(20)),
)

execution_logs = sa.Table(
    "execution_logs",
    metadata,
    sa.Column("execution_id", sa.String(36), primary_key=True),
    sa.Column("offset", sa.BigInteger, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("allowed_tasks", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
)

kv_namespaces = sa.Table(
    "kv_namespaces",
    metadata,
    # The id keeps creation order, which Butler's namespace list shows.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

kv_entries = sa.Table(
    "kv_entries",
    metadata,
    sa.Column(
        "namespace_id",
        sa.ForeignKey("kv_namespaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("expires_at", UTCDateTime, index=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Write-only through the API: reads show REDACTED; sequences use it and hide it.
    sa.Column("secret", sa.Boolean, nullable=False, server_default=sa.false(), default=False),
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("task_id", sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    # The slot to fire next, and when (the slot plus its jitter); NULL: nothing left to fire.
    sa.Column("next_slot", UTCDateTime),
    sa.Column("next_fire_at", UTCDateTime),
    sa.Column("last_slot", UTCDateTime),
    sa.Column("fire_count", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_schedules_enabled_next_fire_at", "enabled", "next_fire_at"),
)

schedule_history = sa.Table(
    "schedule_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    sa.Column("slot", UTCDateTime, nullable=False),
    sa.Column("from_slot", UTCDateTime),
    sa.Column("slots", sa.Integer, nullable=False, default=1),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("execution_id", sa.String(36)),
    sa.Column("recorded_at", UTCDateTime, nullable=False, index=True),
    sa.Column("late_ms", sa.Integer, nullable=False, default=0),
    sa.Column("node", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_schedule_history_schedule_id_id", "schedule_id", "id"),
)

# A task's deadline (checks.deadline): the next instant by which it must have succeeded.
deadlines = sa.Table(
    "deadlines",
    metadata,
    sa.Column("task_id", sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    # The deadline spec `next_due` was computed from: a changed spec starts afresh.
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("next_due", UTCDateTime, index=True),
    sa.Column("last_due", UTCDateTime),
    sa.Column("last_outcome", sa.String(16), nullable=False, default=""),
    sa.Column("last_message", sa.Text, nullable=False, default=""),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.String(64), nullable=False),
    sa.Column("execution_id", sa.String(36), nullable=False),
    sa.Column("event_status", sa.String(20), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    sa.Index("ix_webhook_deliveries_created_at", "created_at"),  # retention
    # An execution's history (store/history.py): its deliveries.
    sa.Index("ix_webhook_deliveries_execution_id", "execution_id"),
)

chains = sa.Table(
    "chains",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("fire_count", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The open window of an `all` (or expiring) chain rule: which conditions have been met, by
# which ends, and when the window closes. One per rule at most.
chain_windows = sa.Table(
    "chain_windows",
    metadata,
    sa.Column("chain_id", sa.ForeignKey("chains.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
    sa.Column("met", sa.JSON, nullable=False),
)

# What each rule did: one row per firing, keyed so that the same ends never fire it twice.
chain_firings = sa.Table(
    "chain_firings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chain_id", sa.String(64), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("triggered_by", sa.JSON, nullable=False),
    sa.Column("execution_ids", sa.JSON, nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("chain_id", "key"),
    sa.Index("ix_chain_firings_chain_id_id", "chain_id", "id"),
    # An execution's history (store/history.py): what a rule fired after its end.
    sa.Index("ix_chain_firings_chain_id_at", "chain_id", "at"),
)
