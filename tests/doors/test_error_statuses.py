"""Each door's one table of statuses for the core's refusals (the answers clients know)."""

from __future__ import annotations

import pytest

from taskgate.domain.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TaskgateError,
    TooManyRequests,
    Unauthorized,
)
from taskgate.domain.qrsfilter import FilterError
from taskgate.doors.api.errors import HTTP_STATUS
from taskgate.doors.butler.wire import core_refusal as butler_refusal
from taskgate.doors.errorstatus import status_for
from taskgate.doors.qrs.wire import core_refusal as qrs_refusal

KINDS = [
    TaskgateError,
    InvalidInput,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    TooManyRequests,
    ConfigError,
]
# (error type, native API, Butler, QRS)
ANSWERS = [
    (TaskgateError, 400, 400, 400),
    (InvalidInput, 422, 400, 400),
    (FilterError, 422, 400, 400),
    (NotFound, 404, 400, 404),
    (Conflict, 409, 400, 409),
    (Unauthorized, 401, 401, 401),
    (Forbidden, 403, 403, 403),
    (TooManyRequests, 429, 429, 429),
    (ConfigError, 400, 400, 400),
]


@pytest.mark.parametrize(("kind", "api", "butler", "qrs"), ANSWERS)
def test_each_door_answers_each_refusal_with_its_own_status(
    kind: type[TaskgateError], api: int, butler: int, qrs: int
) -> None:
    error = (
        kind("no", field="task", retry_after=1)
        if kind is TooManyRequests
        else kind("no", field="task")
    )
    assert status_for(error, HTTP_STATUS) == api
    assert butler_refusal(error).status == butler
    refused = qrs_refusal(error)
    assert (refused.status, refused.message, refused.field) == (qrs, "no", "task")


def test_the_domain_errors_know_no_http() -> None:
    assert not any(hasattr(kind, "http_status") for kind in KINDS)
