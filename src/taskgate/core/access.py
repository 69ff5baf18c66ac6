"""Who may call the native API: keys, roles, and the open mode of a fresh loopback install."""

from __future__ import annotations

import logging
import time

from taskgate.core import apikeys
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import ConfigError, Forbidden, Unauthorized
from taskgate.domain.executions import Caller
from taskgate.store.db import Database

log = logging.getLogger("taskgate")
OPEN_CALLER = Caller("anonymous", scope="anonymous")
# Keys can be made by the CLI beside a running server; notice that within this time.
KEYS_RECHECK_SECONDS = 1.0


class AccessPolicy:
    def __init__(self, db: Database, *, auth_none: bool) -> None:
        self.db = db
        self.auth_none = auth_none
        self._keys_exist = False
        self._checked_at = float("-inf")

    async def keys_exist(self) -> bool:
        now = time.monotonic()
        if not self._keys_exist and now - self._checked_at > KEYS_RECHECK_SECONDS:
            self._keys_exist = await apikeys.any_keys(self.db)
            self._checked_at = now
        return self._keys_exist

    def key_created(self) -> None:
        self._keys_exist = True

    async def check_startup(self, *, loopback_only: bool, host: str, url: str) -> None:
        """Open only where that is safe: loopback with no keys, or `auth: none` said explicitly."""
        if self.auth_none:
            log.warning("auth: none - the API is open to anyone who can reach %s", url)
            return
        if await apikeys.any_keys(self.db):
            return
        if not loopback_only:
            raise ConfigError(
                f"refusing to listen on {host} with no API key: create one with "
                "`taskgate keys create --name admin --role admin --config <file>`, "
                "or set `auth: none` in the config"
            )
        log.warning("no API key exists: the API is open on loopback (%s) until one is created", url)

    async def is_open(self) -> bool:
        return self.auth_none or not await self.keys_exist()

    async def caller(self, authorization: str | None, needed: Role) -> Caller:
        if await self.is_open():
            return OPEN_CALLER
        if not authorization:
            raise Unauthorized("this server needs an API key: Authorization: Bearer <key>")
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use Authorization: Bearer <key>")
        return (await self.key_for(secret.strip(), needed)).caller()

    async def key_for(self, secret: str | None, needed: Role) -> apikeys.KeyInfo:
        """The key behind a secret, if its role may do what is asked."""
        if not secret:
            raise Unauthorized("this door needs an API key")
        key = await apikeys.authenticate(self.db, secret)
        if not key.role.allows(needed):
            raise Forbidden(f"role {key.role.value} may not do this; needs {needed.value}")
        return key
