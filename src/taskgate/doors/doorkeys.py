"""Who may use a compatibility door (Butler's `/v4`, the QRS door's plain port): a caller with
an API key, or one without a key from a network the config opens the door to on purpose
(`open_to`), because Butler's clients and many QRS scripts send no credentials at all.

`allow_from` (checked before, by each door) says who may connect; this says who may then act.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers

from taskgate.core.access import AccessPolicy
from taskgate.core.apikeys import KeyInfo
from taskgate.core.authfailures import Source
from taskgate.domain.apikeys import Role
from taskgate.doors.addresses import AddressAllowList
from taskgate.doors.originguard import SAFE_METHODS

EVERYWHERE = ("0.0.0.0/0", "::/0")


def needed_role(method: str) -> Role:
    """A viewer reads; changing anything (starting a task, writing a value) takes an operator."""
    return Role.VIEWER if method.upper() in SAFE_METHODS else Role.OPERATOR


def key_header(headers: Headers) -> str | None:
    """The key as a door takes it: `X-API-Key: <key>` or `Authorization: Bearer <key>`."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return None


class DoorKeys:
    def __init__(
        self, access: AccessPolicy, door: str, *, require_api_key: bool, open_to: Iterable[str]
    ) -> None:
        self.access = access
        self.door = door
        # require_api_key: false opens the door to every caller allow_from lets connect.
        self.open_to = AddressAllowList(open_to if require_api_key else EVERYWHERE)

    async def key(
        self, method: str, address: str, secret: str | None, *, role: Role | None = None
    ) -> KeyInfo | None:
        """The caller's key; None when it may come in without one. Unauthorized or Forbidden
        (the core's refusals) otherwise. `role`: what the request needs, when more than its
        method says (changing chain rules takes an admin, as on the native API)."""
        return await self.access.door_key(
            secret,
            role or needed_role(method),
            Source(self.door, address),
            open_here=self.open_to.allows(address),
        )
