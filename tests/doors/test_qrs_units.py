"""The QRS door's small rules: result ids, X-Qlik-User parsing, dates, results of a run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from taskgate.config import load_settings
from taskgate.domain.errors import ConfigError
from taskgate.domain.executions import Attempt, Execution
from taskgate.domain.status import Status
from taskgate.doors.qrs.guard import parse_qlik_user, xrfkey_of
from taskgate.doors.qrs.results import MAX_RESULTS, result_candidates, result_id, results_of
from taskgate.doors.qrs.wire import NEVER, qrs_date

T0 = datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=UTC)


def execution(status: Status, attempts: list[Attempt], **fields: object) -> Execution:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "task_id": str(uuid.uuid4()),
        "task_name": "t",
        "status": status,
        "origin": "qrs",
        "caller": "qrs:INTERNAL\\sa_api",
        "params": {},
        "created_at": T0,
        "attempt_count": len(attempts),
        "attempts": attempts,
    }
    values.update(fields)
    return Execution.model_validate(values)


def attempt(number: int, status: Status, *, ended: bool = True, message: str = "") -> Attempt:
    start = T0 + timedelta(seconds=number)
    return Attempt(
        number=number,
        status=status,
        node="n1",
        started_at=start,
        finished_at=start + timedelta(milliseconds=250) if ended else None,
        message=message,
    )


def test_result_ids_are_distinct_and_reversible() -> None:
    eid = str(uuid.uuid4())
    ids = [result_id(eid, n) for n in range(1, MAX_RESULTS + 1)]
    assert len(set(ids)) == len(ids)
    assert eid not in ids
    for n, rid in enumerate(ids, start=1):
        assert result_candidates(rid)[eid] == n
    assert result_candidates("not a guid") == {}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("UserDirectory=INTERNAL; UserId=sa_repository", ("INTERNAL", "sa_repository")),
        ("UserDirectory=internal;UserID=sa_repository", ("internal", "sa_repository")),
        ("UserDirectory= Internal; UserId= sa_repository ", ("Internal", "sa_repository")),
        ("userdirectory=ACME;userid=j.doe;extra=1", ("ACME", "j.doe")),
        ("UserId=sa_api", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_x_qlik_user_is_parsed_leniently(header: str, expected: tuple[str, str] | None) -> None:
    assert parse_qlik_user(header) == expected


def test_xrfkey_query_parameter_any_case() -> None:
    assert xrfkey_of(b"a=1&XRFKEY=abc") == "abc"
    assert xrfkey_of(b"filter=name%20eq%20%27x%27") is None


def test_dates_as_qrs_writes_them() -> None:
    assert qrs_date(T0) == "2026-12-02T03:04:05.678Z"
    assert qrs_date(None) == NEVER == "1753-01-01T00:00:00.000Z"


def test_a_queued_run_has_one_result_without_start() -> None:
    (view,) = results_of(execution(Status.QUEUED, []))
    assert view.status is Status.QUEUED
    assert view.started_at is None and view.finished_at is None
    assert view.details[0].message.startswith("Task triggered by")


def test_a_retried_run_has_a_result_per_attempt_and_one_for_the_retry() -> None:
    run = execution(
        Status.RETRY,
        [attempt(1, Status.FINISHED_FAIL, message="exited with 2")],
        message="exited with 2; retry 1 of 2 in 1s",
    )
    first, pending = results_of(run)
    assert first.status is Status.FINISHED_FAIL
    assert first.duration_ms == 250
    assert pending.status is Status.RETRY
    assert pending.number == 2
    assert pending.details[-1].message.endswith("retry 1 of 2 in 1s")


def test_an_aborting_run_shows_the_abort_on_its_open_attempt() -> None:
    run = execution(Status.ABORTING, [attempt(1, Status.STARTED, ended=False)])
    (view,) = results_of(run)
    assert view.status is Status.ABORTING
    assert view.details[-1].message == "Changing task state from Started to Aborting"


def test_aborted_before_start() -> None:
    run = execution(Status.ABORTED, [], finished_at=T0, message="aborted before it started")
    (view,) = results_of(run)
    assert view.status is Status.ABORTED
    assert [d.message for d in view.details][-1] == "aborted before it started"


def test_config_listen_files_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "taskgate.yaml"
    listen = {"port": 4243, "cert": "s.pem", "key": "k.pem", "client_ca": "/abs/ca.pem"}
    path.write_text(yaml.safe_dump({"qrs": {"enabled": True, "listen": listen}}))
    settings = load_settings(path)
    assert settings.qrs.listen is not None
    assert settings.qrs.listen.cert == folder / "s.pem"
    assert settings.qrs.listen.client_ca == Path("/abs/ca.pem")


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"allow_from": ["not-a-network"]}, "qrs.allow_from"),
        ({"listen": {"port": 4242}}, "qrs.listen.cert"),
        ({"result_history": 0}, "qrs.result_history"),
    ],
)
def test_bad_qrs_config_names_the_field(
    tmp_path: Path, section: dict[str, object], field: str
) -> None:
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump({"qrs": section}))
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert raised.value.field == field
