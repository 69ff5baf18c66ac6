"""The whole configuration: the YAML file's sections, under environment overrides."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from taskgate.config.cluster import ClusterSettings
from taskgate.config.dashboard import DashboardSettings
from taskgate.config.doors import ButlerSettings, QrsSettings
from taskgate.config.egress import EgressSettings
from taskgate.config.jaseci import JaseciSettings
from taskgate.config.mqtt import MqttSettings
from taskgate.config.retention import RetentionSettings
from taskgate.config.server import (
    ExecutorSettings,
    KvSettings,
    SchedulerSettings,
    ServerSettings,
    WebhookDeliverySettings,
)
from taskgate.config.tasks import ConfigTask
from taskgate.domain.chains import ChainSpec
from taskgate.domain.errors import ConfigError
from taskgate.domain.hosts import is_loopback
from taskgate.domain.webhooks import WebhookSpec
from taskgate.qlik.settings import QlikSettings

ENV_PREFIX = "TASKGATE_"
# Names a browser sends only for a page that is itself on this machine: always answered.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")

# Short names for the settings a deployment sets most; any setting can also be given as
# TASKGATE_<SECTION>__<FIELD> (TASKGATE_EXECUTOR__SLOTS=4).
SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "TASKGATE_DATABASE_URL": ("database_url",),
    "TASKGATE_HOST": ("server", "host"),
    "TASKGATE_PORT": ("server", "port"),
    "TASKGATE_DATA_DIR": ("data_dir",),
    "TASKGATE_NODE_NAME": ("node_name",),
    "TASKGATE_MQTT_HOST": ("mqtt", "host"),
    "TASKGATE_MQTT_PORT": ("mqtt", "port"),
    "TASKGATE_MQTT_USERNAME": ("mqtt", "username"),
    "TASKGATE_MQTT_PASSWORD": ("mqtt", "password"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # The file's sections are values of their own: a variable for one field of a section
        # changes that field, not the whole section.
        nested_model_default_partial_update=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    database_url: str | None = Field(
        None,
        description="Default: SQLite (WAL) in data_dir. PostgreSQL: postgresql://user:password@"
        "host:5432/dbname (needs the postgres extra).",
    )
    data_dir: Path = Field(
        Path("data"),
        description="SQLite file, admin.key and runs/; relative to the config file's folder.",
    )
    node_name: str = Field(
        default_factory=socket.gethostname,
        description="The name people see on every attempt; servers may share one.",
        json_schema_extra={"default_doc": "the machine's host name"},
    )
    auth: Literal["keys", "none"] = Field(
        "keys",
        description="keys: closed, the first start makes an admin key; none: open, loopback only.",
    )
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    idempotency_hours: float = Field(
        24.0, gt=0, description="How long an Idempotency-Key's answer is kept."
    )
    kv: KvSettings = Field(default_factory=KvSettings)
    butler: ButlerSettings = Field(default_factory=ButlerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    qrs: QrsSettings = Field(default_factory=QrsSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    webhook_delivery: WebhookDeliverySettings = Field(default_factory=WebhookDeliverySettings)
    qlik: QlikSettings = Field(default_factory=QlikSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    jaseci: JaseciSettings = Field(default_factory=JaseciSettings)
    tasks: list[ConfigTask] = Field(default_factory=list)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    chains: list[ChainSpec] = Field(default_factory=list)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: the short names, then TASKGATE_SECTION__FIELD, then the file (given as
        # the init values). No .env file and no secrets folder: a deployment sets variables.
        return _ShortNames(settings_cls), env_settings, init_settings

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'taskgate.db').resolve()}"

    @property
    def url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.server.tls is not None else "http"
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def host_names(self) -> list[str]:
        """Every name the server answers to (the Host header): loopback, the host of
        `public_url`, the listen addresses that are not wildcards, and `server.hostnames`."""
        names: list[str] = list(LOOPBACK_NAMES)
        if self.server.public_url:
            names.append(urlsplit(self.server.public_url).hostname or "")
        listeners = [self.server.host, self.qrs.listen.host if self.qrs.listen else ""]
        names += [host for host in listeners if host not in WILDCARD_HOSTS]
        names += self.server.hostnames
        return list(dict.fromkeys(n.strip().strip("[]").rstrip(".").lower() for n in names if n))

    def check_exposure(self) -> None:
        """`auth: none` (open mode) only where no one but this machine can connect: a
        ConfigError (exit 2, before anything listens) otherwise."""
        if self.auth == "none" and not self.loopback_only:
            raise ConfigError(
                f"auth: none refuses to listen on {self.server.host}: open mode is for "
                "loopback only (server.host: 127.0.0.1); elsewhere use auth: keys",
                field="auth",
            )
        if self.auth == "none" and self.server.trusted_proxies:
            # A proxy on loopback hands the open port requests from anywhere.
            raise ConfigError(
                "auth: none refuses server.trusted_proxies: a proxy brings other machines' "
                "requests to the open port; use auth: keys behind a proxy",
                field="auth",
            )

    def check_executor(self) -> None:
        """The Celery executor shares its state through PostgreSQL: workers on other machines
        claim and lease executions there, which an SQLite file cannot offer."""
        if self.executor.kind == "celery" and not self.db_url.startswith("postgresql"):
            raise ConfigError(
                "executor.kind: celery needs PostgreSQL as the database (database_url: "
                "postgresql://...); SQLite serves the local executor only",
                field="database_url",
            )

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.server.host)


class _ShortNames(PydanticBaseSettingsSource):
    """The variables of SHORT_NAMES, as the nested values they stand for."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every name at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for variable, path in SHORT_NAMES.items():
            if variable in os.environ:
                target = values
                for key in path[:-1]:
                    target = target.setdefault(key, {})
                target[path[-1]] = os.environ[variable]
        return values
