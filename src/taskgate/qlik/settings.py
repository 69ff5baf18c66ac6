"""How to reach the Qlik Sense sites taskgate drives: one entry per site under `qlik.sites`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from taskgate.domain.model import Strict as Section


class QlikSyncSettings(Section):
    enabled: bool = Field(False, description="Import the site's reload tasks as qlik tasks.")
    interval_seconds: float = Field(300.0, gt=0, le=7 * 86400, description="How often.")
    filter: str = Field("", description="QRS filter sent with GET /qrs/reloadtask/full.")


SITE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class QlikSiteSettings(Section):
    """One Qlik Sense site, reached through its Repository Service (QRS)."""

    name: str = Field(
        ...,
        pattern=SITE_NAME_PATTERN,
        description="Tasks name it in action.site; letters, digits, _ . -",
    )
    host: str = Field(
        ..., min_length=1, description="Host name or address only (no scheme, port or path)."
    )
    port: int = Field(4242, ge=1, le=65535, description="The QRS port.")
    virtual_proxy: str = Field(
        "", pattern=r"^[A-Za-z0-9_\-]*$", description='Prefix: "hdr" -> /hdr/qrs/...'
    )
    client_cert: Path | None = Field(None, description="Client certificate (PEM) from the QMC.")
    client_key: Path | None = Field(None, description="Its key; default: inside client_cert.")
    ca: Path | None = Field(None, description="Verify the site against this CA (root.pem).")
    verify: bool = Field(True, description="false: accept any server certificate.")
    user_directory: str = Field("INTERNAL", min_length=1, description="X-Qlik-User directory.")
    user_id: str = Field("sa_scheduler", min_length=1, description="X-Qlik-User id.")
    connect_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Connecting to the site."
    )
    request_timeout_seconds: float = Field(30.0, gt=0, le=3600, description="One QRS request.")
    poll_min_seconds: float = Field(
        0.5, gt=0, le=3600, description="Poll backoff while following a run: from this ..."
    )
    poll_max_seconds: float = Field(10.0, gt=0, le=3600, description="... up to this.")
    unreachable_limit_seconds: float = Field(
        300.0, ge=0, le=7 * 86400, description="Keep retrying this long before a run ends as error."
    )
    stop_wait_seconds: float = Field(
        60.0, ge=0, le=86400, description="After a stop, follow the remote run this long."
    )
    sync: QlikSyncSettings = Field(
        default_factory=QlikSyncSettings, description="Import the site's reload tasks."
    )

    @field_validator("host")
    @classmethod
    def _plain_host(cls, host: str) -> str:
        if "/" in host or " " in host:
            raise ValueError("a host name or address, without scheme, port or path")
        return host

    @field_validator("user_directory", "user_id")
    @classmethod
    def _header_safe(cls, value: str) -> str:
        if any(c in value for c in ";=\r\n"):
            raise ValueError("must not contain ';', '=' or line breaks (X-Qlik-User)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QlikSiteSettings:
        if self.poll_min_seconds > self.poll_max_seconds:
            raise ValueError("poll_min_seconds must not exceed poll_max_seconds")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        if self.ca is not None and not self.verify:
            raise ValueError("give `ca` to verify the site, or `verify: false`, not both")
        return self


class QlikSettings(Section):
    sites: list[QlikSiteSettings] = Field(
        default_factory=list, description="Qlik Sense sites the qlik action drives (docs/qlik.md)."
    )

    @field_validator("sites")
    @classmethod
    def _unique_names(cls, sites: list[QlikSiteSettings]) -> list[QlikSiteSettings]:
        names = [site.name for site in sites]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"site name {name!r} is used twice")
        return sites

    def site(self, name: str) -> QlikSiteSettings | None:
        return next((site for site in self.sites if site.name == name), None)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(site.name for site in self.sites)
