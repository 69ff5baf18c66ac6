"""Execution tokens: the credential each attempt's command gets for the key-value store.

A token is `tgx_<execution id>_<expiry, Unix seconds>_<signature>`, the signature being
HMAC-SHA256 over `tgx_<execution id>_<expiry>` with a server secret, base64url without padding.
It is checked by recomputing the signature: nothing is stored per token, so issuing one costs
a hash and no database write.
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from taskgate.domain.errors import Unauthorized

TOKEN_PREFIX = "tgx_"
# Room after the task's own timeout for the kill grace, the last write and clock skew.
MARGIN = timedelta(minutes=5)
# A task without a timeout may run for ever; its token must not.
CAP = timedelta(hours=24)

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EPOCH = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class TokenClaims:
    execution_id: str
    expires_at: datetime


def is_execution_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX)


def expiry(started_at: datetime, timeout_seconds: float | None) -> datetime:
    """When an attempt's token stops working: its timeout plus a margin, else the cap."""
    if timeout_seconds is None:
        return started_at + CAP
    return started_at + timedelta(seconds=timeout_seconds) + MARGIN


def _signature(key: bytes, message: str) -> str:
    # The one-shot form: no HMAC object to build per token (one per run, on the spawn path).
    digest = hmac.digest(key, message.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, execution_id: str, expires_at: datetime) -> str:
    # Rounded up, so a token never expires before the instant it was made for.
    epoch = int(expires_at.timestamp()) + (expires_at.microsecond > 0)
    message = f"{TOKEN_PREFIX}{execution_id}_{epoch}"
    return f"{message}_{_signature(key, message)}"


def verify(key: bytes, token: str, now: datetime) -> TokenClaims:
    """The claims of a token signed with `key` that has not expired; Unauthorized otherwise."""
    if not is_execution_token(token):
        raise Unauthorized("not an execution token")
    # The signature is base64url and may hold '_' itself: split from the left.
    parts = token[len(TOKEN_PREFIX) :].split("_", 2)
    if len(parts) != 3:
        raise Unauthorized("malformed execution token")
    execution_id, epoch, signature = parts
    well_formed = (
        _ID.fullmatch(execution_id) and _EPOCH.fullmatch(epoch) and _SIGNATURE.fullmatch(signature)
    )
    if not well_formed:
        raise Unauthorized("malformed execution token")
    expected = _signature(key, f"{TOKEN_PREFIX}{execution_id}_{epoch}")
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("execution token signature does not match")
    try:
        expires_at = datetime.fromtimestamp(int(epoch), UTC)
    except (OverflowError, ValueError, OSError):
        raise Unauthorized("malformed execution token") from None
    if now >= expires_at:
        raise Unauthorized(f"execution token expired at {expires_at.isoformat()}")
    return TokenClaims(execution_id, expires_at)
