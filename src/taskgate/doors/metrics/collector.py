"""What /metrics shows. One registry per app, so several apps in a process do not mix."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from taskgate.core.services import Services
from taskgate.domain.events import (
    CHECK_VIOLATED,
    DEADLINE_MISSED,
    MAX_DURATION_PASSED,
    ExecutionEvent,
)
from taskgate.domain.status import ACTIVE, PENDING, Status

# Seconds: from a few milliseconds (a start) to a day (a long reload).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DURATION_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86400)
WAITING = (Status.QUEUED, Status.RETRY, Status.TRIGGERED)


class Metrics:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.registry = CollectorRegistry()
        self.changes = Counter(
            "taskgate_execution_status_changes",
            "Status changes of executions, by the status reached and the execution's origin.",
            ["status", "origin"],
            registry=self.registry,
        )
        self._changed_series: dict[tuple[str, str], Counter] = {}
        # Workers serve no /metrics: what the cluster ran is counted here from the events every
        # process relays, on every node alike (docs/deploy.md: take max over nodes, not sum).
        self.cluster_changes = Counter(
            "taskgate_cluster_execution_status_changes",
            "Status changes of the executions of the whole cluster (every server's and "
            "worker's) as this server heard them, by the status reached.",
            ["status"],
            registry=self.registry,
        )
        self._cluster_series: dict[str, Counter] = {}
        self.cluster_start_latency = Histogram(
            "taskgate_cluster_start_latency_seconds",
            "From an execution's creation to the start of its first attempt, for every "
            "execution of the cluster as this server heard it (take max over servers).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cluster_run_duration = Histogram(
            "taskgate_cluster_run_duration_seconds",
            "Duration of finished attempts of the whole cluster (every server's and worker's) "
            "as this server heard them, by how they ended (take max over servers).",
            ["status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._cluster_ran_series: dict[str, Histogram] = {}
        self._ran_series: dict[str, Histogram] = {}
        self.start_latency = Histogram(
            "taskgate_start_latency_seconds",
            "From an execution's creation to the start of its first attempt.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "taskgate_run_duration_seconds",
            "Duration of finished attempts, by how they ended.",
            ["status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.waiting = Gauge(
            "taskgate_executions_waiting",
            "Executions waiting to run (queued or waiting for a retry), in the database.",
            registry=self.registry,
        )
        self.active = Gauge(
            "taskgate_executions_running",
            "Executions running (started or being aborted), in the database.",
            registry=self.registry,
        )
        self.connected = Gauge(
            "taskgate_connection_up",
            "1 while the link to an outside service (an MQTT broker, ...) is up.",
            ["name"],
            registry=self.registry,
        )
        self.reconnects = Gauge(
            "taskgate_connection_reconnects",
            "Times the link to an outside service was made again since the start.",
            ["name"],
            registry=self.registry,
        )
        self.last_outage = Gauge(
            "taskgate_connection_last_outage_seconds",
            "How long the link to an outside service was down before its last reconnect.",
            ["name"],
            registry=self.registry,
        )
        self.outage_total = Gauge(
            "taskgate_connection_outage_seconds_total",
            "How long the link to an outside service was down, all reconnects together.",
            ["name"],
            registry=self.registry,
        )
        self.webhook_failures = Counter(
            "taskgate_webhook_failed_attempts",
            "Webhook delivery attempts that failed (an error or a non-2xx answer).",
            registry=self.registry,
        )
        self._webhook_failures_seen = 0
        self.auth_failures = Counter(
            "taskgate_auth_failures",
            "Failed authentications (a wrong, revoked, expired or forged credential), by door.",
            ["door"],
            registry=self.registry,
        )
        self.auth_throttled = Counter(
            "taskgate_auth_throttled",
            "Credentials refused unread (429) from a source slowed down after failures, by door.",
            ["door"],
            registry=self.registry,
        )
        self._auth_seen: dict[tuple[str, str], int] = {}
        self.queue_full = Counter(
            "taskgate_starts_refused_queue_full",
            "Starts refused because too many executions were waiting to run, by the bound "
            "(executor.max_queued or concurrency.max_queued) and the start's origin.",
            ["bound", "origin"],
            registry=self.registry,
        )
        self._queue_full_seen: dict[tuple[str, str], int] = {}
        self.check_violations = Counter(
            "taskgate_check_violations",
            "Checks broken when a run ended, by task (its label, else its id), check and "
            "on_violation (fail or warn).",
            ["task", "check", "on_violation"],
            registry=self.registry,
        )
        self.max_duration_passed = Counter(
            "taskgate_max_duration_passed",
            "Runs that passed a limit while still running, by task and check (max_duration, "
            "or expected_duration: the upper end of the learned band).",
            ["task", "check"],
            registry=self.registry,
        )
        self.deadlines_missed = Counter(
            "taskgate_deadlines_missed",
            "Deadlines by which a task had not succeeded, by task.",
            ["task"],
            registry=self.registry,
        )
        services.ctx.bus.listen(self.on_event)
        services.ctx.bus.listen_all(self.on_cluster_event)

    def on_event(self, event: ExecutionEvent) -> None:
        if not event.is_status:
            self.on_check(event)
            return
        self._changed(event.status.value, event.origin or "unknown").inc()
        _observe_times(event, self.start_latency, self._ran)

    def on_cluster_event(self, event: ExecutionEvent) -> None:
        if not event.is_status:
            return
        status = event.status.value
        child = self._cluster_series.get(status)
        if child is None:
            child = self._cluster_series[status] = self.cluster_changes.labels(status)
        child.inc()
        _observe_times(event, self.cluster_start_latency, self._cluster_ran)

    # Every status change counts here, three per run: the labelled series are looked up once
    # (prometheus_client's `labels` validates and locks on every call). Statuses and origins
    # are few, so these stay small.
    def _changed(self, status: str, origin: str) -> Counter:
        key = (status, origin)
        child = self._changed_series.get(key)
        if child is None:
            child = self._changed_series[key] = self.changes.labels(status, origin)
        return child

    def _ran(self, status: str) -> Histogram:
        child = self._ran_series.get(status)
        if child is None:
            child = self._ran_series[status] = self.run_duration.labels(status)
        return child

    def _cluster_ran(self, status: str) -> Histogram:
        child = self._cluster_ran_series.get(status)
        if child is None:
            child = self._cluster_ran_series[status] = self.cluster_run_duration.labels(status)
        return child

    def on_check(self, event: ExecutionEvent) -> None:
        task = event.label or event.task_id
        if event.kind == CHECK_VIOLATED and event.check is not None:
            check = str(event.check.get("check", ""))
            on_violation = str(event.check.get("on_violation", ""))
            self.check_violations.labels(task, check, on_violation).inc()
        elif event.kind == MAX_DURATION_PASSED and event.check is not None:
            self.max_duration_passed.labels(task, str(event.check.get("check", ""))).inc()
        elif event.kind == DEADLINE_MISSED:
            self.deadlines_missed.labels(task).inc()

    async def render(self) -> bytes:
        """The text exposition, with the gauges read from the database now."""
        counts = await self.services.executions.counts(PENDING | ACTIVE)
        self.waiting.set(sum(counts.get(s.value, 0) for s in WAITING))
        self.active.set(sum(counts.get(s.value, 0) for s in ACTIVE))
        failures = self.services.webhooks.failed_attempts
        self.webhook_failures.inc(failures - self._webhook_failures_seen)
        self._webhook_failures_seen = failures
        auth = self.services.access.failures
        for kind, counter, counts in (
            ("failed", self.auth_failures, auth.failures),
            ("throttled", self.auth_throttled, auth.throttled),
        ):
            for door, count in counts.items():
                counter.labels(door).inc(count - self._auth_seen.get((kind, door), 0))
                self._auth_seen[(kind, door)] = count
        for labels, count in list(self.services.starts.bound.refused.items()):
            self.queue_full.labels(*labels).inc(count - self._queue_full_seen.get(labels, 0))
            self._queue_full_seen[labels] = count
        for name, state in self.services.connections.items():
            self.connected.labels(name).set(1 if state.connected else 0)
            self.reconnects.labels(name).set(state.reconnects)
            self.last_outage.labels(name).set(state.last_outage_seconds)
            self.outage_total.labels(name).set(state.outage_seconds_total)
        return generate_latest(self.registry)


def _observe_times(
    event: ExecutionEvent, start_latency: Histogram, ran: Callable[[str], Histogram]
) -> None:
    """A first attempt's start: how long it waited; an attempt's end: how long it ran."""
    if event.status is Status.STARTED and event.attempt == 1 and event.created_at:
        seconds = (event.at - event.created_at).total_seconds()
        start_latency.observe(max(0.0, seconds))
    attempt_ended = event.status.is_terminal or event.status is Status.RETRY
    if attempt_ended and event.started_at is not None:
        seconds = (event.at - event.started_at).total_seconds()
        ran(event.status.value).observe(max(0.0, seconds))
