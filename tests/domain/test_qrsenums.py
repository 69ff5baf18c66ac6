import json

import pytest

from taskgate.domain.qrsenums import ENUMS, enum_for_property, enums_document
from taskgate.domain.status import QRS_CODE


def test_the_enums_document_has_the_wire_shape_clients_read() -> None:
    document = enums_document()
    json.dumps(document)  # plain JSON
    for body in document.values():
        assert set(body) == {"values", "usages"}
        assert all(isinstance(v, str) for v in body["values"] + body["usages"])
    assert document["TaskTypeEnum"]["values"] == [
        "0: Reload",
        "1: ExternalProgram",
        "2: UserSync",
        "3: Distribute",
        "4: Preload",
    ]
    assert "ReloadTask.TaskType" in document["TaskTypeEnum"]["usages"]
    assert "Task.TaskType" in document["TaskTypeEnum"]["usages"]
    assert "SchemaEvent.EventType" in document["EventTypeEnum"]["usages"]


def test_clients_find_the_status_enum_by_its_usage() -> None:
    # qrs-api-client's get_enum looks for the usage, not the key name.
    found = [
        body for body in enums_document().values() if "ExecutionResult.Status" in body["usages"]
    ]
    assert len(found) == 1
    values = found[0]["values"]
    assert values[0] == "0: NeverStarted"
    assert "7: FinishedSuccess" in values
    assert values[-1] == "14: DistributionRunning"
    assert len(values) == 15


def test_every_status_maps_to_the_qrs_name_with_its_code() -> None:
    status_enum = next(e for e in ENUMS if "ExecutionResult.Status" in e.usages)
    for status, code in QRS_CODE.items():
        camel = "".join(word.capitalize() for word in status.value.split("_"))
        assert status_enum.name_of(code) == camel


def test_keys_and_integers_are_unique() -> None:
    assert len({e.key for e in ENUMS}) == len(ENUMS)
    for enum in ENUMS:
        numbers = [n for n, _ in enum.values]
        assert numbers == sorted(set(numbers))
        assert len(enum.by_name()) == len(enum.values)


@pytest.mark.parametrize(
    ("prop", "name", "number"),
    [
        ("status", "finishedfail", 8),
        ("Status", "distributionrunning", 14),
        ("taskType", "reload", 0),
        ("TASKTYPE", "preload", 4),
        ("abortReason", "manual", 1),
        ("detailsType", "information", 2),
        ("eventType", "composite", 1),
        ("incrementOption", "weekly", 3),
        ("daylightSavingTime", "permanentstandardtime", 1),
        ("ruleState", "taskfail", 2),
        ("currentState", "tasksuccessful", 1),
    ],
)
def test_filter_names_resolve_by_property(prop: str, name: str, number: int) -> None:
    names = enum_for_property(prop)
    assert names is not None
    assert names[name] == number


def test_properties_without_an_enum() -> None:
    assert enum_for_property("name") is None
    assert enum_for_property("") is None
