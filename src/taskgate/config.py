"""Settings: the YAML config file, with a few environment overrides for deployment."""

from __future__ import annotations

import ipaddress
import os
import socket
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from taskgate.core.webhooks import RetryPolicy
from taskgate.domain.errors import ConfigError, TaskgateError
from taskgate.domain.kv import KvLimits
from taskgate.domain.startfilter import StartFilter
from taskgate.domain.status import Status
from taskgate.domain.tasks import TaskSpec
from taskgate.domain.webhooks import WebhookSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import Resources
from taskgate.qlik.settings import QlikSettings
from taskgate.schedules.spec import ScheduleSpec


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_networks(cls: type, networks: list[str]) -> list[str]:
    """Each entry an IP network (`10.0.0.0/8`) or address."""
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a network: {network!r}") from exc
    return networks


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    public_url: str | None = Field(
        None, description="URL that commands use to reach the server (TASKGATE_URL)."
    )


class ExecutorSettings(Section):
    kind: Literal["local"] = "local"
    slots: int = Field(8, ge=1, le=10000, description="Executions running at once in this node.")
    log_max_bytes: int = Field(1024 * 1024, ge=1024, description="Log kept per execution.")
    kill_grace_seconds: float = Field(5.0, ge=0, le=600)


class KvSettings(Section):
    max_value_bytes: int = Field(256 * 1024, ge=1, le=16 * 1024 * 1024)
    max_keys_per_namespace: int = Field(1000, ge=1)
    max_namespaces: int = Field(1000, ge=1)
    sweep_seconds: float = Field(60.0, gt=0, description="How often expired keys are deleted.")

    def limits(self) -> KvLimits:
        return KvLimits(self.max_value_bytes, self.max_keys_per_namespace, self.max_namespaces)


class CustomPropertyPair(Section):
    name: str
    value: str


class AllowTask(Section):
    task_id: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("task_id", "taskId")
    )
    tag: list[str] = Field(default_factory=list)
    custom_property: list[CustomPropertyPair] = Field(
        default_factory=list, validation_alias=AliasChoices("custom_property", "customProperty")
    )

    @field_validator("task_id", "tag", "custom_property", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        # Butler's template leaves these keys empty (YAML null): an empty list.
        return [] if value is None else value


class StartFilterSettings(Section):
    enable: bool = False
    allow_task: AllowTask = Field(
        default_factory=AllowTask, validation_alias=AliasChoices("allow_task", "allowTask")
    )

    def start_filter(self) -> StartFilter | None:
        if not self.enable:
            return None
        allow = self.allow_task
        return StartFilter.of(
            allow.task_id, allow.tag, [(p.name, p.value) for p in allow.custom_property]
        )


class ButlerSchedulerEndpoints(Section):
    get_schedule: bool = True
    create_new_schedule: bool = True
    delete_schedule: bool = True
    start_schedule: bool = True
    stop_schedule: bool = True
    get_schedule_status_all: bool = True


class ButlerEndpoints(Section):
    """Butler's `restServerEndpointsEnable`, for the endpoints taskgate has."""

    sense_start_task: bool = True
    key_value_store: bool = True
    scheduler: ButlerSchedulerEndpoints = Field(default_factory=ButlerSchedulerEndpoints)
    butlerping: bool = True
    api_list_enabled_endpoints: bool = True

    def enabled_names(self) -> list[str]:
        """The leaf names Butler's /v4/configfile/endpointsenabled lists, in its order."""
        flags = {
            "senseStartTask": self.sense_start_task,
            "keyValueStore": self.key_value_store,
            "getSchedule": self.scheduler.get_schedule,
            "createNewSchedule": self.scheduler.create_new_schedule,
            "deleteSchedule": self.scheduler.delete_schedule,
            "startSchedule": self.scheduler.start_schedule,
            "stopSchedule": self.scheduler.stop_schedule,
            "getScheduleStatusAll": self.scheduler.get_schedule_status_all,
            "butlerping": self.butlerping,
            "apiListEnabledEndpoints": self.api_list_enabled_endpoints,
        }
        return [name for name, enabled in flags.items() if enabled]


class ButlerSettings(Section):
    enabled: bool = False
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Source networks that may call the Butler door.",
    )
    require_api_key: bool = False
    rate_limit_per_minute: int = Field(100, ge=0, description="Per client address; 0: off.")
    endpoints: ButlerEndpoints = Field(default_factory=ButlerEndpoints)
    # Butler's own key names are accepted too, so its section can be pasted in.
    start_task_filter: StartFilterSettings = Field(
        default_factory=StartFilterSettings,
        validation_alias=AliasChoices("start_task_filter", "startTaskFilter"),
    )

    _networks = field_validator("allow_from")(check_networks)


class QrsListenSettings(Section):
    """The QRS door's own HTTPS listener: clients must present a certificate signed by
    `client_ca`, as Qlik Sense's port 4242 asks."""

    host: str = "0.0.0.0"
    port: int = Field(4242, ge=0, le=65535)
    cert: Path = Field(..., description="Server certificate chain (PEM).")
    key: Path = Field(..., description="Server private key (PEM).")
    client_ca: Path = Field(..., description="CA (PEM) that signs the client certificates.")

    def resolved(self, base: Path) -> QrsListenSettings:
        """Relative file names are relative to the config file's folder."""
        return self.model_copy(
            update={name: base / getattr(self, name) for name in ("cert", "key", "client_ca")}
        )


class QrsSettings(Section):
    enabled: bool = False
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Peers that may use /qrs on the main (plain HTTP) port.",
    )
    listen: QrsListenSettings | None = None
    result_history: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Newest executions an unnarrowed execution-result list looks at.",
    )

    _networks = field_validator("allow_from")(check_networks)


class SchedulerSettings(Section):
    enabled: bool = Field(True, description="Fire due schedules in this process.")
    recheck_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Longest sleep: a schedule changed by another process is seen within it.",
    )
    history_days: float = Field(30.0, gt=0, description="Fire history kept this long.")


class ConfigSchedule(ScheduleSpec):
    """A schedule declared inside its task in the config: the task is the one around it."""

    task: str = ""

    @field_validator("task")
    @classmethod
    def _no_task(cls, task: str) -> str:
        if task:
            raise ValueError("a schedule inside a task starts that task: leave out `task`")
        return task


class ConfigTask(TaskSpec):
    """A task in the config file, with the schedules that start it."""

    schedules: list[ConfigSchedule] = Field(default_factory=list)

    def task_spec(self) -> TaskSpec:
        return TaskSpec.model_validate(self.model_dump(exclude={"schedules"}))


class MqttTls(Section):
    enabled: bool = False
    ca_file: Path | None = Field(None, description="CA bundle; default: the system's.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = None
    insecure: bool = Field(False, description="Skip the broker host name check (testing only).")


class MqttStartSettings(Section):
    enabled: bool = True
    topic: str = Field("qliksense/start_task", min_length=1, description="Butler's default.")
    reply_topic: str | None = Field(
        None, description="Where answers go when a message names no MQTT 5 response topic."
    )
    allowed_tasks: list[str] | None = Field(
        None, description="Ids, labels, tag:NAME, property:NAME=VALUE; None: every task."
    )
    batch_max: int = Field(500, ge=1, le=10000, description="Starts committed together at most.")
    final_reply: bool = Field(True, description="Also answer with each execution's end.")

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, topic: str) -> str:
        if "+" in topic or "#" in topic:
            raise ValueError("the start topic is one topic, without + or #")
        return topic


EVENT_TOPIC_FIELDS = ("task_id", "status", "execution_id", "origin")


class MqttEventSettings(Section):
    enabled: bool = True
    topic: str = Field(
        "taskgate/executions/{task_id}/{status}",
        description=f"Fields: {', '.join(EVENT_TOPIC_FIELDS)}.",
    )
    statuses: list[str] | None = Field(None, description="Publish only these; None: all.")

    @field_validator("topic")
    @classmethod
    def _fields(cls, topic: str) -> str:
        for _, name, _, _ in string.Formatter().parse(topic):
            if name is not None and name not in EVENT_TOPIC_FIELDS:
                raise ValueError(
                    f"unknown field {{{name}}} (known: {', '.join(EVENT_TOPIC_FIELDS)})"
                )
        if "+" in topic or "#" in topic:
            raise ValueError("an event topic has no + or #")
        return topic

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, statuses: list[str] | None) -> list[str] | None:
        known = {s.value for s in Status}
        for status in statuses or []:
            if status not in known:
                raise ValueError(f"unknown status {status!r}")
        return statuses


class MqttButlerTopics(Section):
    """Butler's failure and abort topics, with Butler's payloads."""

    enabled: bool = True
    task_failure_topic: str = "qliksense/task_failure"
    task_failure_full_topic: str = "qliksense/task_failure_full"
    task_aborted_topic: str = "qliksense/task_aborted"
    task_aborted_full_topic: str = "qliksense/task_aborted_full"
    task_failure_send_full: bool = True
    task_aborted_send_full: bool = True


class MqttSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    tls: MqttTls = Field(default_factory=MqttTls)
    username: str | None = None
    password: str | None = None
    client_id: str | None = Field(None, description="Default: taskgate-<node_name>.")
    keepalive: int = Field(60, ge=5, le=65535, description="Seconds.")
    clean_start: bool = Field(False, description="False: a persistent session.")
    session_expiry_seconds: int = Field(
        86400, ge=0, description="How long the broker keeps the session while disconnected."
    )
    qos: Literal[0, 1] = 1
    receive_maximum: int = Field(
        1000, ge=1, le=65535, description="Unacknowledged start messages the broker may send."
    )
    max_queued_publishes: int = Field(
        100_000, ge=0, description="Outgoing messages kept while disconnected; 0: no limit."
    )
    reconnect_min_seconds: int = Field(1, ge=1)
    reconnect_max_seconds: int = Field(30, ge=1)
    start: MqttStartSettings = Field(default_factory=MqttStartSettings)
    events: MqttEventSettings = Field(default_factory=MqttEventSettings)
    butler: MqttButlerTopics = Field(default_factory=MqttButlerTopics)


class WebhookDeliverySettings(Section):
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Per attempt.")
    first_retry_seconds: float = Field(5.0, gt=0, le=86400)
    longest_retry_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    max_attempts: int = Field(10, ge=1, le=100)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.first_retry_seconds, self.longest_retry_seconds, self.max_attempts)


class Settings(Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database_url: str | None = Field(None, description="Default: SQLite in data_dir.")
    data_dir: Path = Path("data")
    node_name: str = Field(default_factory=socket.gethostname)
    auth: Literal["keys", "none"] = "keys"
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    idempotency_hours: float = Field(24.0, gt=0)
    kv: KvSettings = Field(default_factory=KvSettings)
    butler: ButlerSettings = Field(default_factory=ButlerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    qrs: QrsSettings = Field(default_factory=QrsSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    webhook_delivery: WebhookDeliverySettings = Field(default_factory=WebhookDeliverySettings)
    qlik: QlikSettings = Field(default_factory=QlikSettings)
    tasks: list[ConfigTask] = Field(default_factory=list)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'taskgate.db').resolve()}"

    @property
    def url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    @property
    def loopback_only(self) -> bool:
        host = self.server.host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


ENV_OVERRIDES = {
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


def load_settings(path: Path | None) -> Settings:
    """Read the config file (relative paths are relative to it), then apply env overrides."""
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"config {path}: the top level must be a mapping")
        base = path.resolve().parent
    for var, keys in ENV_OVERRIDES.items():
        if var in os.environ:
            target = raw
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = os.environ[var]
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config {path}: {where}: {first['msg']}", field=where) from exc
    if not settings.data_dir.is_absolute():
        settings.data_dir = base / settings.data_dir
    if settings.qrs.listen is not None:
        settings.qrs.listen = settings.qrs.listen.resolved(base)
    _resolve_site_files(settings.qlik, base)
    _check_task_actions(settings)
    return settings


def _resolve_site_files(qlik: QlikSettings, base: Path) -> None:
    """Certificate paths are relative to the config file, and must name readable files."""
    for index, site in enumerate(qlik.sites):
        for name in ("client_cert", "client_key", "ca"):
            path: Path | None = getattr(site, name)
            if path is None:
                continue
            if not path.is_absolute():
                path = base / path
                setattr(site, name, path)
            if not path.is_file():
                where = f"qlik.sites.{index}.{name}"
                raise ConfigError(f"config: {where}: no such file: {path}", field=where)


def _check_task_actions(settings: Settings) -> None:
    """Each config task's action must be one this server can run (a `qlik` task must name a
    configured site, say): the same check the API makes."""
    actions = ActionCatalog(Resources(settings.qlik))
    for index, task in enumerate(settings.tasks):
        try:
            actions.check(task.action)
        except TaskgateError as exc:
            where = f"tasks.{index}.{exc.field or 'action'}"
            raise ConfigError(f"config: {where}: {exc.message}", field=where) from exc
