"""The `retention:` section: how long executions, audit entries, schedule fire history and
webhook deliveries are kept before the housekeeping loop deletes them."""

from __future__ import annotations

from pydantic import Field

from taskgate.config.base import Section
from taskgate.domain.retention import Keep, Kind, RetentionPolicy


class ExecutionRetention(Section):
    max_age_days: float | None = Field(
        90.0,
        gt=0,
        description="Ended executions (with their attempts and logs) are deleted this many days "
        "after they ended; null: no age limit.",
    )
    max_count: int | None = Field(
        None,
        ge=1,
        description="At most this many ended executions are kept per task (the newest); null: "
        "no count limit.",
    )


class AuditRetention(Section):
    max_age_days: float | None = Field(
        365.0, gt=0, description="Audit entries older than this are deleted; null: never."
    )
    max_count: int | None = Field(
        None, ge=1, description="At most this many audit entries are kept (the newest); null: all."
    )


class ScheduleHistoryRetention(Section):
    max_age_days: float | None = Field(
        None,
        gt=0,
        description="Fire history entries older than this are deleted; null: "
        "scheduler.history_days (30 by default).",
    )
    max_count: int | None = Field(
        None, ge=1, description="At most this many entries are kept per schedule; null: all."
    )


class WebhookDeliveryRetention(Section):
    max_age_days: float | None = Field(
        30.0,
        gt=0,
        description="Webhook deliveries that are no longer pending are deleted this long after "
        "they were made; null: never.",
    )
    max_count: int | None = Field(
        None,
        ge=1,
        description="At most this many finished deliveries are kept per webhook; null: all.",
    )


class RetentionSettings(Section):
    enabled: bool = Field(
        True, description="False: nothing is ever deleted (idempotency keys still expire)."
    )
    every_seconds: float = Field(
        600.0, gt=0, le=86400, description="How often the housekeeping loop runs."
    )
    batch_size: int = Field(
        500, ge=1, le=100_000, description="Rows deleted per transaction (short transactions)."
    )
    max_batches: int = Field(
        200, ge=1, description="Batches per kind and pass at most; the rest goes the next pass."
    )
    executions: ExecutionRetention = Field(default_factory=ExecutionRetention)
    audit: AuditRetention = Field(default_factory=AuditRetention)
    schedule_history: ScheduleHistoryRetention = Field(default_factory=ScheduleHistoryRetention)
    webhook_deliveries: WebhookDeliveryRetention = Field(default_factory=WebhookDeliveryRetention)

    def policy(self, history_days: float) -> RetentionPolicy:
        """The policy to apply; `history_days` (scheduler.history_days, the older setting) is
        the fire history's age limit unless this section gives one."""
        if not self.enabled:
            return RetentionPolicy(batch_size=self.batch_size, max_batches=self.max_batches)
        history = self.schedule_history
        return RetentionPolicy(
            keep={
                Kind.EXECUTIONS: Keep(self.executions.max_age_days, self.executions.max_count),
                Kind.AUDIT: Keep(self.audit.max_age_days, self.audit.max_count),
                Kind.SCHEDULE_HISTORY: Keep(
                    history.max_age_days if history.max_age_days is not None else history_days,
                    history.max_count,
                ),
                Kind.WEBHOOK_DELIVERIES: Keep(
                    self.webhook_deliveries.max_age_days, self.webhook_deliveries.max_count
                ),
            },
            batch_size=self.batch_size,
            max_batches=self.max_batches,
        )
