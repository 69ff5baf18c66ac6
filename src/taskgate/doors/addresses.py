"""Source-address allow-lists, as the Butler, QRS and Jaseci doors check them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope


def peer_address(scope: Scope) -> str:
    """The connecting peer's address; "" when the server does not know it."""
    return scope["client"][0] if scope.get("client") else ""


def not_allowed(address: str) -> str:
    """What a door answers (403) to a peer its `allow_from` leaves out."""
    return f"source address {address or 'unknown'} is not allowed"


class AddressAllowList:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d.
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)
