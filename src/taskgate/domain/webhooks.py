"""Webhooks: which events a subscription wants, how a delivery is signed, when it is retried."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from taskgate.domain.backoff import backoff_delay
from taskgate.domain.events import EventFilter, ExecutionEvent
from taskgate.domain.model import Strict
from taskgate.domain.status import Status

SIGNATURE_HEADER = "X-Taskgate-Signature"
WEBHOOK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class WebhookSpec(Strict):
    """A subscription: events that match every filter given are POSTed to `url`."""

    id: str | None = Field(
        None,
        pattern=WEBHOOK_ID_PATTERN,
        description="Stable id; default: derived from name or url.",
    )
    name: str = Field("", max_length=200, description="A name for people.")
    url: str = Field(
        ..., min_length=1, max_length=2000, description="Where events are POSTed (http or https)."
    )
    secret: str = Field(..., min_length=16, max_length=200, description="Signs every delivery.")
    statuses: list[Status] = Field(default_factory=list, description="Empty: every status.")
    tasks: list[str] = Field(default_factory=list, description="Ids or labels; empty: all.")
    tags: list[str] = Field(default_factory=list, description="Empty: any tags.")
    enabled: bool = Field(True, description="False: no deliveries.")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    def event_filter(self) -> EventFilter:
        # Built on each call, not cached: model_copy(update=...) would keep a stale cache.
        return EventFilter.of(tasks=self.tasks, tags=self.tags, statuses=self.statuses)

    def matches(self, event: ExecutionEvent) -> bool:
        return self.enabled and self.event_filter().matches(event)


class Webhook(WebhookSpec):
    id: str
    source: Literal["api", "config"] = "api"
    created_at: datetime
    updated_at: datetime


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; an operator may redeliver it


class Delivery(BaseModel):
    id: int
    webhook_id: str
    execution_id: str
    event_status: Status
    state: DeliveryState
    attempts: int
    last_status_code: int | None = None
    last_error: str = ""
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class DeliveryRetryPolicy:
    """When a failed delivery is tried again, and after how many attempts it is given up."""

    first_retry_seconds: float = 5.0
    longest_retry_seconds: float = 3600.0
    max_attempts: int = 10

    def gives_up_after(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def delay_after(self, attempts: int) -> timedelta:
        """After `attempts` failed attempts: first, twice that, four times … up to the longest."""
        return timedelta(
            seconds=backoff_delay(
                max(1, attempts),
                first=self.first_retry_seconds,
                longest=self.longest_retry_seconds,
            )
        )
