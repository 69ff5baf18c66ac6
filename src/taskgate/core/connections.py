"""The state of a door's link to an outside service, for /readyz, the log and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class ConnectionState:
    connected: bool = False
    connects: int = 0
    last_error: str = ""
    # Since when a link that was up is down (monotonic seconds); None while up or never up.
    down_since: float | None = None
    # How long the link was down before each reconnect: the last time, and all times together.
    last_outage_seconds: float = 0.0
    outage_seconds_total: float = 0.0

    def went_down(self) -> None:
        if self.connected or self.down_since is None:
            self.down_since = time.monotonic()
        self.connected = False

    def came_up(self) -> None:
        if self.down_since is not None:
            self.last_outage_seconds = time.monotonic() - self.down_since
            self.outage_seconds_total += self.last_outage_seconds
            self.down_since = None
        self.connected = True
        self.connects += 1

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)
