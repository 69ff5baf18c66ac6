"""Execution tokens: issued to every attempt's command, accepted on the key-value store only.

The signing secret lives in the database (`server_secrets`), so a token issued by one server
process is good on every other process on the same database; each process reads it once at
start. A token is good while its signature matches, its expiry has not passed and its
execution has not ended.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from taskgate.core.clock import utcnow
from taskgate.domain import exectoken
from taskgate.domain.apikeys import Role
from taskgate.domain.errors import Unauthorized
from taskgate.domain.executions import Caller
from taskgate.domain.kv import token_scope
from taskgate.store import executions as execution_rows
from taskgate.store import secrets as secret_rows
from taskgate.store.db import Database

SECRET_NAME = "execution_token_key"
# What a token may do on the routes that take one: read and write the store.
TOKEN_ROLE = Role.OPERATOR


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class ExecutionTokens:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key: bytes | None = None

    async def load(self) -> None:
        """Read the signing secret, creating it on the first start of a new database."""
        value = await self.db.write(
            lambda conn: secret_rows.get_or_create(conn, SECRET_NAME, _new_secret, utcnow())
        )
        self._key = value.encode()

    @property
    def key(self) -> bytes:
        if self._key is None:
            raise RuntimeError("execution tokens used before load()")
        return self._key

    def issue(self, execution_id: str, started_at: datetime, timeout: float | None) -> str:
        """The token of one attempt that started at `started_at` (no I/O: on the start path)."""
        return exectoken.issue(self.key, execution_id, exectoken.expiry(started_at, timeout))

    async def caller(self, token: str) -> Caller:
        """The execution behind a token that is still good, as a caller (what it may do is
        the access policy's to say: TOKEN_ROLE on the routes that take a token)."""
        claims = exectoken.verify(self.key, token, utcnow())
        found = await self.db.read(
            lambda conn: execution_rows.token_scope(conn, claims.execution_id)
        )
        if found is None:
            raise Unauthorized(f"execution {claims.execution_id} of this token does not exist")
        status, namespaces = found
        if status.is_terminal:
            raise Unauthorized(
                f"execution {claims.execution_id} has ended ({status.value}): its token is void"
            )
        name = f"execution:{claims.execution_id}"
        return Caller(name, scope=name, kv_namespaces=token_scope(namespaces))
