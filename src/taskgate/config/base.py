"""What every config section shares."""

from __future__ import annotations

import ipaddress

from taskgate.domain.model import Strict as Section

__all__ = ["Section", "check_networks"]


def check_networks(cls: type, networks: list[str]) -> list[str]:
    """Each entry an IP network (`10.0.0.0/8`) or address."""
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a network: {network!r}") from exc
    return networks
