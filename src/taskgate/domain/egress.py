"""Where outgoing requests of a run may go: named hosts only, never link-local or metadata.

A sequence runs requests from the server's own network position, so without a rule it could
be pointed at anything the server reaches (SSRF). The rule: the host of a URL must be on the
task's `allowed_hosts` or the server's `egress.allowed_hosts` (an empty list allows nothing),
and no address it resolves to may be link-local or a cloud metadata address, even when its
name is allowed.

Entries: a host name (`api.example.com`, case-insensitive), `*.example.com` (any name below
it), an IP address, or a network (`10.1.0.0/16`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services that are not link-local (the link-local ones, 169.254.169.254 and
# fe80::…, are refused as link-local).
_METADATA = frozenset(
    {
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)


class EgressRefused(Exception):
    """An outgoing request that the egress rule does not allow."""


@dataclass(frozen=True)
class EgressRule:
    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def of(cls, *lists: Iterable[str]) -> EgressRule:
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (item.strip().lower() for items in lists for item in items):
            if not entry:
                continue
            if entry.startswith("*."):
                suffixes.append(entry[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".").strip("[]")
        address = _address(name)
        if address is not None:
            return any(address in network for network in self.networks)
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)

    def check_host(self, host: str) -> None:
        if not host:
            raise EgressRefused("the URL names no host")
        if not self.allows_host(host):
            raise EgressRefused(
                f"host {host!r} is not in allowed_hosts (the task's or the server's "
                "egress.allowed_hosts)"
            )


def check_address(host: str, address: str) -> None:
    """Refuse an address no request may reach, whatever name led to it."""
    parsed = _address(address.split("%", 1)[0])
    if parsed is None:
        return
    if parsed.is_link_local or parsed in _METADATA or parsed.is_unspecified:
        raise EgressRefused(
            f"host {host!r} resolves to {address}, a link-local or metadata address, "
            "which is never allowed"
        )
    mapped = getattr(parsed, "ipv4_mapped", None)
    if mapped is not None:
        check_address(host, str(mapped))


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
