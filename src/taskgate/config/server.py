"""The server's own sections: where it listens, how much it runs, what it keeps."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from taskgate.config.base import Section, check_networks
from taskgate.config.tls import ServerTls
from taskgate.domain.kv import KvLimits
from taskgate.domain.tasks import ROUTE_PATTERN


class ServerSettings(Section):
    host: str = Field(
        "127.0.0.1", description="Listen address; auth: none refuses anything but loopback."
    )
    port: int = Field(8080, ge=0, le=65535, description="Listen port.")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Larger request bodies are answered 413."
    )
    public_url: str | None = Field(
        None, description="URL that commands use to reach the server (TASKGATE_URL)."
    )
    api_docs: bool = Field(
        True, description="Serve /docs, /redoc and /openapi.json (the API's description)."
    )
    hostnames: list[str] = Field(
        default_factory=list,
        description="Further names (Host header) the server answers to, besides loopback, the "
        "host of public_url and a listen address that is not a wildcard.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxies (addresses or networks) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; none by default, whatever FORWARDED_ALLOW_IPS says.",
    )
    failed_auth_burst: int = Field(
        10,
        ge=1,
        le=100_000,
        description="Failed authentications a source may have at once before it is slowed "
        "down (429) to one more try per failed_auth_window_seconds / failed_auth_burst.",
    )
    failed_auth_window_seconds: float = Field(
        60.0, gt=0, le=86400, description="The window of failed_auth_burst."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) whose web pages may call the server; none "
        "by default, and then no CORS headers at all.",
    )
    tls: ServerTls | None = Field(
        None, description="HTTPS on this port (certfile, keyfile, client_ca); none: plain HTTP."
    )

    _proxies = field_validator("trusted_proxies")(check_networks)

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, names: list[str]) -> list[str]:
        for name in names:
            bare = name.strip().strip("[]")
            if not bare or any(c in bare for c in "/ @?#") or bare.count(":") == 1:
                raise ValueError(f"not a host name (no scheme, port or path): {name!r}")
        return names

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
        return origins


class CelerySettings(Section):
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="The Celery broker: redis://host:6379/0 or amqp://user:password@host:5672//.",
    )
    default_route: str = Field(
        "default",
        pattern=ROUTE_PATTERN,
        description="The route of a task that names none; workers listen on routes "
        "(taskgate worker --queues).",
    )
    routes: dict[str, str] = Field(
        default_factory=dict,
        description="Route name -> broker queue name, for a route whose queue is named "
        "otherwise; a route not listed uses its own name.",
    )
    queue_prefix: str = Field(
        "taskgate.",
        max_length=100,
        description="Put before every queue name in the broker, so taskgate's queues stand "
        "apart from other Celery applications on the same broker.",
    )
    unclaimed_seconds: float = Field(
        30.0,
        ge=1,
        le=86400,
        description="An execution published this long ago and still not claimed is published "
        "again (a broker that lost its messages loses no start; duplicates are dropped).",
    )
    inspect_timeout_seconds: float = Field(
        1.0, gt=0, le=30, description="How long GET /api/v1/queues waits for workers to answer."
    )

    def queue(self, route: str | None) -> str:
        """The broker queue of a route (None: the default route)."""
        name = route or self.default_route
        return self.queue_prefix + self.routes.get(name, name)


class ExecutorSettings(Section):
    kind: Literal["local", "celery"] = Field(
        "local",
        description="local: actions run inside the server process; celery: on taskgate "
        "workers (taskgate worker) through a Celery broker, with PostgreSQL as the database.",
    )
    celery: CelerySettings = Field(
        default_factory=CelerySettings, description="Used when kind is celery."
    )
    slots: int = Field(8, ge=1, le=10000, description="Executions running at once in this node.")
    lease_seconds: float = Field(
        30.0,
        ge=0.5,
        le=3600,
        description="A running execution's claim, renewed every third of it: a server that "
        "dies has its executions ended (or retried) by another within this plus one sweep.",
    )
    log_max_bytes: int = Field(1024 * 1024, ge=1024, description="Log kept per execution.")
    kill_grace_seconds: float = Field(
        5.0,
        ge=0,
        le=600,
        description="SIGTERM to SIGKILL delay when a timeout or abort stops a run.",
    )
    max_queued: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Executions waiting to run (queued or waiting for a retry), all tasks "
        "together, at most: a start past it is refused (429 or 503 with Retry-After; MQTT: "
        "not acknowledged until there is room). None: no bound. See docs/concepts.md.",
    )
    retry_after_seconds: int = Field(
        1,
        ge=1,
        le=3600,
        description="The Retry-After a start refused by max_queued is answered with.",
    )


class KvSettings(Section):
    max_value_bytes: int = Field(
        256 * 1024,
        ge=1,
        le=16 * 1024 * 1024,
        description="Per value (UTF-8 bytes); larger writes are refused.",
    )
    max_keys_per_namespace: int = Field(1000, ge=1, description="Keys in one namespace at most.")
    max_namespaces: int = Field(1000, ge=1, description="Namespaces at most.")
    sweep_seconds: float = Field(60.0, gt=0, description="How often expired keys are deleted.")

    def limits(self) -> KvLimits:
        return KvLimits(self.max_value_bytes, self.max_keys_per_namespace, self.max_namespaces)


class SchedulerSettings(Section):
    enabled: bool = Field(True, description="Fire due schedules in this process.")
    recheck_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Longest sleep: a schedule changed by another process is seen within it.",
    )
    history_days: float = Field(
        30.0,
        gt=0,
        description="Fire history kept this long, in days (retention.schedule_history."
        "max_age_days wins when set).",
    )


class WebhookDeliverySettings(Section):
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Per attempt.")
    first_retry_seconds: float = Field(
        5.0, gt=0, le=86400, description="Delay before the first retry; doubles per failed attempt."
    )
    longest_retry_seconds: float = Field(
        3600.0, gt=0, le=7 * 86400, description="The longest delay between two attempts."
    )
    max_attempts: int = Field(
        10, ge=1, le=100, description="Attempts before a delivery is given up (failed)."
    )
