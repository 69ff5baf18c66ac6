"""Who may call: API keys, roles, execution tokens, and the open mode a config asks for.

Closed by default: with `auth: keys` every call needs a key, whether or not any key exists;
the first start makes an admin key, so there is always one to begin with. Open mode is
`auth: none`, said in the config on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from taskgate.core import apikeys
from taskgate.core.authfailures import FailedAuthentications, Source
from taskgate.core.exectoken import TOKEN_ROLE, ExecutionTokens
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import Forbidden, Unauthorized
from taskgate.domain.exectoken import is_execution_token
from taskgate.domain.executions import Caller
from taskgate.store.db import Database

T = TypeVar("T")
log = logging.getLogger("taskgate")
OPEN_CALLER = Caller("anonymous", scope="anonymous")
FIRST_KEY_NAME = "admin"


class AccessPolicy:
    def __init__(
        self,
        db: Database,
        tokens: ExecutionTokens,
        *,
        auth_none: bool,
        failures: FailedAuthentications | None = None,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.auth_none = auth_none
        self.failures = failures or FailedAuthentications()

    async def check_startup(self, url: str, keep_secret: Callable[[str], str]) -> None:
        """On the first start of a closed server (no key was ever made), make an admin key and
        hand its secret to `keep_secret`, which stores it and says where. It runs inside the
        transaction that makes the key: if the secret cannot be kept, no key is made, and the
        next start tries again. Revoking every key later never opens the server again."""
        if self.auth_none:
            log.warning("auth: none - every program that can reach %s may use it", url)
            return
        made = await apikeys.make_first_key(
            self.db, name=FIRST_KEY_NAME, actor="system:first-start", keep_secret=keep_secret
        )
        if made is not None:
            log.warning(
                "first start: made the admin API key %r; its secret is in %s (readable by this "
                "user only). Use it: export TASKGATE_API_KEY=$(cat %s)",
                FIRST_KEY_NAME,
                made,
                made,
            )
        elif not await apikeys.any_keys(self.db):
            log.warning(
                "no usable API key: every call is refused. Make one on this machine with "
                "`taskgate keys create --name admin --role admin --config <file>`"
            )

    async def caller(
        self,
        authorization: str | None,
        needed: Role,
        source: Source,
        *,
        takes_execution_token: bool = False,
    ) -> Caller:
        """Who sends `authorization`, if they may do what needs `needed`.

        An execution token is judged before the open mode: it gets the same answer on a server
        with keys and on an open one, so a command behaves alike on both. A forged, expired or
        ended token is a failed authentication (401) on every route; a good one is refused
        (403) outside the routes that take it.
        """
        secret = _bearer_secret(authorization)
        if secret is not None and is_execution_token(secret):
            token = secret
            caller = await self._authenticated(source, token, lambda: self.tokens.caller(token))
            if not takes_execution_token:
                raise Forbidden("an execution token (TASKGATE_TOKEN) may only use /api/v1/kv")
            if not TOKEN_ROLE.allows(needed):
                raise Forbidden(f"an execution token may not do this; needs {needed.value}")
            return caller
        if self.auth_none:
            return OPEN_CALLER
        if not authorization:
            raise Unauthorized("this server needs an API key: Authorization: Bearer <key>")
        if secret is None:
            await self._authenticated(source, authorization, _other_scheme)
        return (await self.key_for(secret, needed, source)).caller()

    async def door_key(
        self, secret: str | None, needed: Role, source: Source, *, open_here: bool
    ) -> apikeys.KeyInfo | None:
        """The key a compatibility door's caller presents, if its role may do what is asked;
        None when the caller may come in without one: `auth: none`, or no key sent from a
        source the config opens the door to (`open_here`). A key that is sent is checked
        even there, so a wrong one is never taken for none."""
        if self.auth_none:
            return None
        if not secret and open_here:
            return None
        return await self.key_for(secret, needed, source)

    async def key_for(self, secret: str | None, needed: Role, source: Source) -> apikeys.KeyInfo:
        """The key behind a secret, if its role may do what is asked."""
        if not secret:
            raise Unauthorized("this door needs an API key")
        key = await self._authenticated(
            source, secret, lambda: apikeys.authenticate(self.db, secret)
        )
        if not key.role.allows(needed):
            raise Forbidden(f"role {key.role.value} may not do this; needs {needed.value}")
        return key

    async def _authenticated(
        self, source: Source, credential: str, check: Callable[[], Awaitable[T]]
    ) -> T:
        """`check()`'s answer for a credential; a source that failed too often is refused
        first (429, nothing looked up), and each failure is logged and counted."""
        self.failures.check(source)
        try:
            return await check()
        except Unauthorized as exc:
            self.failures.failed(source, credential, exc.message)
            raise


async def _other_scheme() -> None:
    raise Unauthorized("use Authorization: Bearer <key>")


def _bearer_secret(authorization: str | None) -> str | None:
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()
