"""Where the server's own outgoing requests may go (sequences): `egress.allowed_hosts`.

Named `egress` so that nobody takes it for `server.hostnames`, the names the server itself
answers to. An empty list allows nothing; tasks add their own `allowed_hosts`.
"""

from __future__ import annotations

from pydantic import Field

from taskgate.config.base import Section
from taskgate.domain.egress import EgressRule


class EgressSettings(Section):
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts every sequence may call: names, *.suffix, addresses or networks. "
        "Link-local and metadata addresses are refused whatever this says.",
    )

    def rule(self) -> EgressRule:
        return EgressRule.of(self.allowed_hosts)
