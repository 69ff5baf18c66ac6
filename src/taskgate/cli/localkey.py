"""The admin key a server on this machine wrote at its first start (`<data_dir>/admin.key`),
picked up by commands that talk to that server with no key of their own.

The server is found the way `taskgate serve` finds it: `--config` / `TASKGATE_CONFIG` (or
the defaults, `./data`). The key is sent only to that server's own URL, so a command pointed
at another server never hands it this one's admin secret; and never from inside a run
(`TASKGATE_TOKEN` set), whose credential is its token.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from taskgate.datadir import read_admin_key
from taskgate.domain.hosts import is_loopback

DEFAULT_PORTS = {"http": 80, "https": 443}


def same_server(url: str, own_url: str) -> bool:
    """Whether `url` reaches the server whose URL is `own_url` (loopback names are one)."""
    target, own = urlsplit(url), urlsplit(own_url)
    try:
        ports = [u.port or DEFAULT_PORTS.get(u.scheme) for u in (target, own)]
    except ValueError:
        return False
    hosts = [(u.hostname or "").lower() for u in (target, own)]
    same_host = hosts[0] == hosts[1] or all(is_loopback(h) for h in hosts)
    return target.scheme == own.scheme and ports[0] == ports[1] and same_host


def local_admin_key(url: str | None, config: Path | None) -> str | None:
    """The secret of `admin.key`, when this command talks to the server of that config."""
    if os.environ.get("TASKGATE_TOKEN"):
        return None
    from taskgate.client.client import DEFAULT_URL
    from taskgate.config import load_settings
    from taskgate.domain.errors import ConfigError

    if config is None and os.environ.get("TASKGATE_CONFIG"):
        config = Path(os.environ["TASKGATE_CONFIG"])
    try:
        settings = load_settings(config)
    except ConfigError:
        return None
    target = url or os.environ.get("TASKGATE_URL") or DEFAULT_URL
    if not same_server(target, settings.url):
        return None
    return read_admin_key(settings.data_dir)
