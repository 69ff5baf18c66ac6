"""The `cluster:` section: how servers that share a PostgreSQL database tell each other
their events (docs/deploy.md, "Several nodes")."""

from __future__ import annotations

from pydantic import Field

from taskgate.config.base import Section


class ClusterSettings(Section):
    events: bool = Field(
        True,
        description="On PostgreSQL, send every event to the other servers on the database and "
        "take theirs (LISTEN/NOTIFY): waits, streams and aborts work on any server. Ignored on "
        "SQLite (one server).",
    )
    recheck_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="While the other servers' events arrive, how often a waiter and the "
        "executor still read the database for them: a safety net, for the end of a run whose "
        "server died between its commit and its notification (every second while the events "
        "are cut off).",
    )
