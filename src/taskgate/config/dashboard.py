"""The web dashboard's section."""

from __future__ import annotations

from pydantic import Field

from taskgate.config.base import Section


class DashboardSettings(Section):
    enabled: bool = Field(
        True, description="Serve the web dashboard at / and /ui (login with an API key)."
    )
    session_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 30,
        description="A login lasts this long; a revoked or expired key ends it at once.",
    )
