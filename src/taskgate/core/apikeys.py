"""API keys: made, listed, revoked, and checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.domain.allowlist import allow_entry
from taskgate.domain.apikeys import Role, check_expires_days
from taskgate.domain.errors import InvalidInput, NotFound, Unauthorized
from taskgate.domain.executions import Caller
from taskgate.domain.startfilter import StartFilter
from taskgate.store import audit
from taskgate.store import keys as key_rows
from taskgate.store.db import Database

T = TypeVar("T")
SECRET_PREFIX = "tg_"
# last_used_at is written at most this often per key, so reads stay reads.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    prefix: str
    role: Role
    allowed_tasks: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("created_at", "expires_at", "revoked_at", "last_used_at"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        data["role"] = self.role.value
        return data

    def caller(self, start_filter: StartFilter | None = None) -> Caller:
        allowed = frozenset(self.allowed_tasks) if self.allowed_tasks is not None else None
        return Caller(
            f"key:{self.name}", scope=self.id, allowed_tasks=allowed, start_filter=start_filter
        )


def _info(row: sa.Row[Any]) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        role=Role(row.role),
        allowed_tasks=row.allowed_tasks,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    """(prefix, secret): the prefix is what logs and listings show of a key."""
    prefix = secrets.token_hex(4)
    return prefix, f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def _row(
    key_id: str,
    name: str,
    prefix: str,
    secret: str,
    role: Role,
    allowed_tasks: list[str] | None,
    now: datetime,
    expires_at: datetime | None,
) -> dict[str, Any]:
    return {
        "id": key_id,
        "name": name,
        "prefix": prefix,
        "secret_hash": _hash(secret),
        "role": role.value,
        "allowed_tasks": allowed_tasks,
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
        "last_used_at": None,
    }


def _insert(conn: Connection, row: dict[str, Any], actor: str) -> None:
    """Store a new key (a `_row`), with the audit record of its making."""
    key_rows.insert(conn, row)
    audit.record(
        conn,
        at=row["created_at"],
        actor=actor,
        action="key.create",
        target=row["id"],
        details={"name": row["name"], "role": row["role"]},
    )


async def create_key(
    db: Database,
    *,
    name: str,
    role: Role,
    expires_days: float | None,
    allowed_tasks: list[str] | None,
    actor: str,
) -> tuple[KeyInfo, str]:
    """Returns the key and its secret; only the hash is stored, the secret is shown once."""
    if not name.strip() or len(name) > 200:
        raise InvalidInput("name: 1-200 characters", field="name")
    check_expires_days(expires_days)
    if allowed_tasks is not None:
        allowed_tasks = [allow_entry(entry) for entry in allowed_tasks]
    now = utcnow()
    prefix, secret = _new_secret()
    key_id = str(uuid.uuid4())
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    row = _row(key_id, name, prefix, secret, role, allowed_tasks, now, expires_at)

    def work(conn: Connection) -> sa.Row[Any] | None:
        _insert(conn, row, actor)
        return key_rows.by_prefix(conn, prefix)

    stored = await db.write(work)
    assert stored is not None
    return _info(stored), secret


async def make_first_key(
    db: Database, *, name: str, actor: str, keep_secret: Callable[[str], T]
) -> T | None:
    """An admin key, if no key was ever made (revoked ones count): the secret goes to
    `keep_secret` inside the transaction that stores its hash, so a secret that cannot be kept
    leaves no key behind. Its result is returned; None when keys existed."""
    now = utcnow()
    prefix, secret = _new_secret()
    key_id = str(uuid.uuid4())

    def work(conn: Connection) -> T | None:
        if key_rows.count_all(conn) > 0:
            return None
        _insert(conn, _row(key_id, name, prefix, secret, Role.ADMIN, None, now, None), actor)
        return keep_secret(secret)

    return await db.write(work)


async def list_keys(db: Database) -> list[KeyInfo]:
    return [_info(r) for r in await db.read(key_rows.all_keys)]


async def revoke_key(db: Database, ref: str, *, actor: str) -> KeyInfo:
    now = utcnow()

    def work(conn: Connection) -> sa.Row[Any]:
        row = key_rows.by_ref(conn, ref)
        if row is None:
            raise NotFound.named("key", ref)
        key_id: str = row.id
        if row.revoked_at is None:
            key_rows.update(conn, key_id, revoked_at=now)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="key.revoke",
                target=key_id,
                details={"name": row.name},
            )
        row = key_rows.by_ref(conn, key_id)
        assert row is not None
        return row

    return _info(await db.write(work))


async def any_keys(db: Database) -> bool:
    """Whether any key works now (neither revoked nor expired)."""
    now = utcnow()
    return await db.read(lambda conn: key_rows.count_usable(conn, now)) > 0


async def authenticate(db: Database, secret: str) -> KeyInfo:
    """The key a secret belongs to; Unauthorized when unknown, revoked or expired."""
    parts = secret.split("_")
    if len(parts) < 3 or not secret.startswith(SECRET_PREFIX):
        raise Unauthorized("not a taskgate API key")
    row = await db.read(lambda conn: key_rows.by_prefix(conn, parts[1]))
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Unauthorized("unknown API key")
    now = utcnow()
    if row.revoked_at is not None:
        raise Unauthorized("API key was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("API key has expired")
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        key_id: str = row.id
        await db.write(lambda conn: key_rows.update(conn, key_id, last_used_at=now))
    return _info(row)
