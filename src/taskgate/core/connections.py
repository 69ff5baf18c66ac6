"""The state of a door's link to an outside service, for /readyz, the log and metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConnectionState:
    connected: bool = False
    connects: int = 0
    last_error: str = ""

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)
