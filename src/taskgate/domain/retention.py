"""How long stored history is kept: executions (with attempts and logs), audit entries,
schedule fire history and webhook deliveries. A row goes when it is older than its kind's age
limit or past its kind's count limit (the newest N per task, schedule or webhook are counted);
either limit may be off (None)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    EXECUTIONS = "executions"
    AUDIT = "audit"
    SCHEDULE_HISTORY = "schedule_history"
    WEBHOOK_DELIVERIES = "webhook_deliveries"


@dataclass(frozen=True)
class Keep:
    """The limits of one kind: `max_age_days` (None: no age limit) and `max_count` (None: no
    count limit; per task for executions, per schedule, per webhook, in all for audit)."""

    max_age_days: float | None = None
    max_count: int | None = None

    def cutoff(self, now: datetime) -> datetime | None:
        """Rows from before this instant are old enough to go."""
        return None if self.max_age_days is None else now - timedelta(days=self.max_age_days)

    @property
    def unlimited(self) -> bool:
        return self.max_age_days is None and self.max_count is None


@dataclass(frozen=True)
class RetentionPolicy:
    keep: dict[Kind, Keep] = field(default_factory=dict)
    # Rows deleted per transaction: short transactions keep the database answering the rest.
    batch_size: int = 500
    # Batches per housekeeping pass at most; what is left goes at the next pass.
    max_batches: int = 200

    def of(self, kind: Kind) -> Keep:
        return self.keep.get(kind, Keep())


@dataclass
class PurgeReport:
    """What a pass deleted (or, in a dry run, would delete), per kind."""

    counts: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())
