"""API key roles and what each may do."""

from __future__ import annotations

import math
from enum import StrEnum

from taskgate.domain.errors import InvalidInput

# A hundred years: "no expiry" is said by giving none; past this an expiry date is no date.
MAX_EXPIRES_DAYS = 36500


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


def check_expires_days(days: float | None) -> None:
    """The one rule for a key's lifetime, said the same way by the API and the CLI."""
    if days is not None and not (math.isfinite(days) and 0 < days <= MAX_EXPIRES_DAYS):
        raise InvalidInput(
            f"expires_days: give a number of days above 0 and at most {MAX_EXPIRES_DAYS} "
            "(leave it out for a key that does not expire)",
            field="expires_days",
        )


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
