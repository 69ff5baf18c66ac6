"""The compatibility doors' sections: Butler's `/v4` and the QRS `/qrs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from taskgate.config.base import Section, check_networks
from taskgate.domain.startfilter import StartFilter


class CustomPropertyPair(Section):
    name: str = Field(..., description="Custom property name.")
    value: str = Field(..., description="Its value.")


class AllowTask(Section):
    task_id: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("task_id", "taskId"),
        description="Ids that may be started by id.",
    )
    tag: list[str] = Field(
        default_factory=list, description="Tags whose tasks may be started by tag."
    )
    custom_property: list[CustomPropertyPair] = Field(
        default_factory=list,
        validation_alias=AliasChoices("custom_property", "customProperty"),
        description="Name/value pairs whose tasks may be started.",
    )

    @field_validator("task_id", "tag", "custom_property", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        # Butler's template leaves these keys empty (YAML null): an empty list.
        return [] if value is None else value


class StartFilterSettings(Section):
    enable: bool = Field(False, description="Apply the filter (Butler's startTaskFilter).")
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
    get_schedule: bool = Field(True, description="Serve this endpoint of Butler's scheduler API.")
    create_new_schedule: bool = Field(
        True, description="Serve this endpoint of Butler's scheduler API."
    )
    delete_schedule: bool = Field(
        True, description="Serve this endpoint of Butler's scheduler API."
    )
    start_schedule: bool = Field(True, description="Serve this endpoint of Butler's scheduler API.")
    stop_schedule: bool = Field(True, description="Serve this endpoint of Butler's scheduler API.")
    get_schedule_status_all: bool = Field(
        True, description="Serve this endpoint of Butler's scheduler API."
    )


class ButlerEndpoints(Section):
    """Butler's `restServerEndpointsEnable`, for the endpoints taskgate has."""

    sense_start_task: bool = Field(True, description="Serve the task start endpoints.")
    key_value_store: bool = Field(True, description="Serve the key-value endpoints.")
    scheduler: ButlerSchedulerEndpoints = Field(default_factory=ButlerSchedulerEndpoints)
    butlerping: bool = Field(True, description="Serve /v4/butlerping.")
    api_list_enabled_endpoints: bool = Field(
        True, description="Serve /v4/configfile/endpointsenabled."
    )

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
    enabled: bool = Field(False, description="Serve Butler's API under /v4 (docs/butler.md).")
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Source networks that may call the Butler door.",
    )
    require_api_key: bool = Field(
        True, description="False: every caller allow_from lets connect may call without a key."
    )
    open_to: list[str] = Field(
        default_factory=list,
        description="Source networks that may call without an API key (Butler's clients send "
        "none); none by default.",
    )
    rate_limit_per_minute: int = Field(100, ge=0, description="Per client address; 0: off.")
    endpoints: ButlerEndpoints = Field(default_factory=ButlerEndpoints)
    # Butler's own key names are accepted too, so its section can be pasted in.
    start_task_filter: StartFilterSettings = Field(
        default_factory=StartFilterSettings,
        validation_alias=AliasChoices("start_task_filter", "startTaskFilter"),
    )

    _networks = field_validator("allow_from", "open_to")(check_networks)


class QrsListenSettings(Section):
    """The QRS door's own HTTPS listener: clients must present a certificate signed by
    `client_ca`, as Qlik Sense's port 4242 asks."""

    host: str = Field("0.0.0.0", description="Listen address of the HTTPS port.")
    port: int = Field(4242, ge=0, le=65535, description="Its port.")
    cert: Path = Field(..., description="Server certificate chain (PEM).")
    key: Path = Field(..., description="Server private key (PEM).")
    client_ca: Path = Field(..., description="CA (PEM) that signs the client certificates.")

    def resolved(self, base: Path) -> QrsListenSettings:
        """Relative file names are relative to the config file's folder."""
        return self.model_copy(
            update={name: base / getattr(self, name) for name in ("cert", "key", "client_ca")}
        )


class QrsSettings(Section):
    enabled: bool = Field(False, description="Serve the QRS task API under /qrs (docs/qrs.md).")
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Peers that may use /qrs on the main (plain HTTP) port.",
    )
    require_api_key: bool = Field(
        True,
        description="On the plain port; false: every peer allow_from lets in may call without "
        "a key. The TLS listener takes client certificates instead.",
    )
    open_to: list[str] = Field(
        default_factory=list,
        description="Peers that may use the plain port without an API key; none by default.",
    )
    listen: QrsListenSettings | None = Field(
        None, description="Its own HTTPS port with client certificates; null: none."
    )
    result_history: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Newest executions an unnarrowed execution-result list looks at.",
    )

    _networks = field_validator("allow_from", "open_to")(check_networks)
