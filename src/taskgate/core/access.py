"""Who may call the native API: keys, roles, execution tokens, and the open mode of a fresh
loopback install."""

from __future__ import annotations

import logging
import time

from taskgate.core import apikeys
from taskgate.core.exectoken import ExecutionTokens
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import ConfigError, Forbidden, Unauthorized
from taskgate.domain.exectoken import is_execution_token
from taskgate.domain.executions import Caller
from taskgate.store.db import Database

log = logging.getLogger("taskgate")
OPEN_CALLER = Caller("anonymous", scope="anonymous")
# Keys can be made by the CLI beside a running server; notice that within this time.
KEYS_RECHECK_SECONDS = 1.0


class AccessPolicy:
    def __init__(self, db: Database, tokens: ExecutionTokens, *, auth_none: bool) -> None:
        self.db = db
        self.tokens = tokens
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

    async def caller(
        self, authorization: str | None, needed: Role, *, takes_execution_token: bool = False
    ) -> Caller:
        """Who sends `authorization`, if they may do what needs `needed`.

        An execution token is judged before the open mode: it gets the same answer on a server
        with keys and on an open one, so a command behaves alike on both.
        """
        secret = _bearer_secret(authorization)
        if secret is not None and is_execution_token(secret):
            if not takes_execution_token:
                raise Forbidden("an execution token (TASKGATE_TOKEN) may only use /api/v1/kv")
            return await self.tokens.caller(secret, needed)
        if await self.is_open():
            return OPEN_CALLER
        if not authorization:
            raise Unauthorized("this server needs an API key: Authorization: Bearer <key>")
        if secret is None:
            raise Unauthorized("use Authorization: Bearer <key>")
        return (await self.key_for(secret, needed)).caller()

    async def key_for(self, secret: str | None, needed: Role) -> apikeys.KeyInfo:
        """The key behind a secret, if its role may do what is asked."""
        if not secret:
            raise Unauthorized("this door needs an API key")
        key = await apikeys.authenticate(self.db, secret)
        if not key.role.allows(needed):
            raise Forbidden(f"role {key.role.value} may not do this; needs {needed.value}")
        return key


def _bearer_secret(authorization: str | None) -> str | None:
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()
