"""Which peers' X-Forwarded-For and X-Forwarded-Proto the listeners believe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def forwarded_headers(trusted_proxies: Sequence[str]) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-For/-Proto: believed from the proxies named only.
    Left alone, uvicorn believes them from 127.0.0.1 and ::1 (or FORWARDED_ALLOW_IPS), so any
    local process could pose as any address past an allow-list, a rate limit and the audit."""
    return {
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": list(trusted_proxies),
    }
