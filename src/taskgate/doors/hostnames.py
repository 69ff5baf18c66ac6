"""The names this server answers to, as a browser names it: the Host header of a request and
the Origin of the page that sent it.

A page whose domain an attacker makes resolve to 127.0.0.1 (DNS rebinding) reaches a loopback
port with its own name in `Host`; a page elsewhere that posts to us sends its own `Origin`.
Both are told apart from the server's own names here.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def normalize(name: str) -> str:
    """`Example.COM.` -> example.com; `[::1]` -> ::1."""
    return name.strip().strip("[]").rstrip(".").lower()


def host_of(header: str) -> str:
    """The host of a Host header: `example.com:8080` -> example.com, `[::1]:8080` -> ::1."""
    header = header.strip()
    if header.startswith("["):
        return normalize(header[: header.find("]") + 1])
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return normalize(header)


class HostNames:
    def __init__(self, names: Iterable[str], cors_origins: Iterable[str] = ()) -> None:
        self.names = frozenset(normalize(name) for name in names)
        # Origins the operator lets in on purpose (CORS), compared as browsers write them.
        self.cors_origins = frozenset(origin.rstrip("/").lower() for origin in cors_origins)

    def allows_host(self, header: str | None) -> bool:
        return header is not None and host_of(header) in self.names

    def origin_is_ours(self, origin: str) -> bool:
        """An Origin header naming one of our names (any port), or an origin let in by CORS.
        `null` (a sandboxed frame, a file, a redirect) is never ours."""
        if origin.rstrip("/").lower() in self.cors_origins:
            return True
        try:
            parts = urlsplit(origin.strip())
            hostname = parts.hostname
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and normalize(hostname or "") in self.names

    def origin_is_cors(self, origin: str) -> bool:
        return origin.rstrip("/").lower() in self.cors_origins
