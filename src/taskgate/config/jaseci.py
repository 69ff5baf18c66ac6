"""The Jaseci door (`/js/`): who may connect, who may act without a key, how long a
synchronous walker_run waits."""

from __future__ import annotations

from pydantic import Field, field_validator

from taskgate.config.base import Section, check_networks


class JaseciSettings(Section):
    enabled: bool = Field(
        False, description="Serve the Jaseci-compatible door under /js/ (docs/jaseci.md)."
    )
    allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Source networks that may call the Jaseci door.",
    )
    require_api_key: bool = Field(
        True, description="False: every caller allow_from lets connect may call without a key."
    )
    open_to: list[str] = Field(
        default_factory=list,
        description="Source networks that may call without an API key; none by default.",
    )
    sync_wait_seconds: float = Field(
        300.0, gt=0, le=86400, description="How long a walker_run without is_async waits."
    )

    _networks = field_validator("allow_from", "open_to")(check_networks)
