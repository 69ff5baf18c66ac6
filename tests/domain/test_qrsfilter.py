import random
from typing import Any

import pytest

from taskgate.domain.errors import InvalidInput
from taskgate.domain.qrsfilter import FilterError, parse_filter
from taskgate.domain.qrsorderby import parse_orderby

TASK_ID = "82acfca0-5f1a-4c7e-9d3b-1a2b3c4d5e6f"
APP_ID = "0f4e3c2b-aaaa-4bbb-8ccc-123456789abc"

RELOAD_TASK: dict[str, Any] = {
    "id": TASK_ID,
    "createdDate": "2026-01-05T09:00:00.000Z",
    "modifiedDate": "2026-09-01T10:30:00.000Z",
    "modifiedByUserName": "INTERNAL\\sa_repository",
    "schemaPath": "ReloadTask",
    "privileges": None,
    "customProperties": [
        {
            "id": "c1c1c1c1-0000-4000-8000-000000000001",
            "value": "prod",
            "definition": {"id": "d1d1d1d1-0000-4000-8000-000000000001", "name": "env"},
        },
        {
            "id": "c1c1c1c1-0000-4000-8000-000000000002",
            "value": "Finance",
            "definition": {"id": "d1d1d1d1-0000-4000-8000-000000000002", "name": "taskGroup"},
        },
    ],
    "name": "Reload O'Brien Sales",
    "taskType": 0,
    "enabled": True,
    "taskSessionTimeout": 1440,
    "maxRetries": 0,
    "tags": [
        {"id": "7a7a7a7a-0000-4000-8000-000000000001", "name": "Nightly"},
        {"id": "7a7a7a7a-0000-4000-8000-000000000002", "name": "finance"},
    ],
    "app": {"id": APP_ID, "name": "Sales", "published": True},
    "isManuallyTriggered": False,
    "isPartialReload": False,
    "operational": {
        "id": "0e0e0e0e-0000-4000-8000-000000000001",
        "lastExecutionResult": {
            "id": "e5e5e5e5-0000-4000-8000-000000000001",
            "executingNodeName": "node-1",
            "status": 8,
            "startTime": "2026-09-23T12:00:00.000Z",
            "stopTime": "2026-09-23T12:01:30.500Z",
            "duration": 90500,
            "scriptLogAvailable": True,
            "details": [
                {"detailsType": 2, "message": "Changing task state from Triggered to Started"},
                {"detailsType": 0, "message": "Script error: table not found"},
            ],
        },
        "nextExecution": "1753-01-01T00:00:00.000Z",
    },
}

EXECUTION_RESULT: dict[str, Any] = {
    "id": "e5e5e5e5-0000-4000-8000-000000000001",
    "createdDate": "2026-09-23T12:00:00.000Z",
    "modifiedDate": "2026-09-23T12:01:30.500Z",
    "schemaPath": "ExecutionResult",
    "taskID": TASK_ID,
    "executionID": "9b9b9b9b-1234-4321-abcd-0123456789ab",
    "appID": APP_ID,
    "executingNodeID": "1d1d1d1d-0000-4000-8000-000000000001",
    "executingNodeName": "node-1",
    "status": 7,
    "startTime": "2026-09-23T12:00:00.000Z",
    "stopTime": "2026-09-23T12:01:30.500Z",
    "duration": 90500,
    "fileReferenceID": "00000000-0000-0000-0000-000000000000",
    "scriptLogAvailable": False,
    "details": [],
    "scriptLogLocation": "",
    "scriptLogSize": 0,
}

DEFINITION: dict[str, Any] = {"name": "env", "objectTypes": ["App", "ReloadTask"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plain properties, case-insensitive names, values and operators
        ("name eq 'Reload O''Brien Sales'", True),
        ("NAME EQ 'reload o''brien sales'", True),
        ("name ne 'Reload O''Brien Sales'", False),
        ("name eq 'Reload OBrien Sales'", False),
        ("name sw 'reload'", True),
        ("name ew 'SALES'", True),
        ("name so 'o''brien'", True),
        ("name so 'nightly'", False),
        ("enabled eq true", True),
        ("Enabled eq FALSE", False),
        ("enabled ne false", True),
        ("isManuallyTriggered eq false", True),
        # GUIDs, unquoted or quoted, any case
        (f"id eq {TASK_ID}", True),
        (f"id eq {TASK_ID.upper()}", True),
        (f"id eq '{TASK_ID}'", True),
        (f"app.id eq {APP_ID}", True),
        ("id eq 00000000-0000-0000-0000-000000000000", False),
        # numbers and enum names
        ("taskType eq 0", True),
        ("taskType eq Reload", True),
        ("TaskType eq reload", True),
        ("taskType eq UserSync", False),
        ("taskType ne ExternalProgram", True),
        ("taskSessionTimeout ge 1440", True),
        ("taskSessionTimeout gt 1440", False),
        ("taskSessionTimeout lt 1440.5", True),
        ("maxRetries le -1", False),
        ("operational.lastExecutionResult.status eq FinishedFail", True),
        ("operational.lastExecutionResult.status eq 'finishedfail'", True),
        ("operational.lastExecutionResult.status eq 8", True),
        ("operational.lastExecutionResult.status gt Started", True),
        ("operational.lastExecutionResult.status eq FinishedSuccess", False),
        ("operational.lastExecutionResult.duration gt 90000", True),
        # collections: any element matches
        ("tags.name eq 'nightly'", True),
        ("tags.name eq 'FINANCE'", True),
        ("tags.name eq 'weekly'", False),
        ("tags.name ne 'nightly'", True),  # the other tag is not 'nightly'
        ("tags.id eq 7a7a7a7a-0000-4000-8000-000000000002", True),
        ("customProperties.definition.name eq 'env'", True),
        ("customProperties.value eq 'prod'", True),
        ("customProperties.value ne null", True),
        ("customProperties.value eq null", False),
        ("operational.lastExecutionResult.details.detailsType eq Error", True),
        ("operational.lastExecutionResult.details.message so 'table not found'", True),
        ("operational.lastExecutionResult.details.detailsType eq Warning", False),
        # null and missing properties
        ("privileges eq null", True),
        ("privileges ne null", False),
        ("noSuchProperty eq null", True),
        ("noSuchProperty ne null", False),
        ("noSuchProperty eq 'x'", False),
        ("noSuchProperty ne 'x'", False),
        ("app.noSuch.deeper eq 1", False),
        ("app ne null", True),
        ("name eq null", False),
        # comparing a sub-object or a wrong type is false, never an error
        ("app eq 'Sales'", False),
        ("enabled eq 1", False),
        ("taskType eq 'Reload task'", False),
        ("enabled sw 'tr'", False),
        # dates
        ("operational.lastExecutionResult.startTime eq '2026-09-23T12:00:00.000Z'", True),
        ("operational.lastExecutionResult.startTime eq '2026-09-23 12:00:00'", True),
        ("operational.lastExecutionResult.startTime ge '2026-09-23'", True),
        ("operational.lastExecutionResult.startTime gt '2026-09-23T12:00:00Z'", False),
        ("operational.lastExecutionResult.stopTime gt '2026-09-23T12:01:30Z'", True),
        ("operational.lastExecutionResult.startTime lt '2012-05-09 12:00:00'", False),
        ("operational.lastExecutionResult.startTime eq '2026-09-23T14:00:00+02:00'", True),
        ("modifiedDate sw '2026-09'", True),
        ("operational.nextExecution lt '1900-01-01'", True),
        # and / or / parentheses
        ("enabled eq true and taskType eq Reload", True),
        ("enabled eq true and taskType eq UserSync", False),
        ("enabled eq false or taskType eq Reload", True),
        ("name eq 'x' or name eq 'y'", False),
        # `and` binds tighter: true or (false and false)
        ("enabled eq true or taskType eq UserSync and name eq 'x'", True),
        ("(enabled eq true or taskType eq UserSync) and name eq 'x'", False),
        # false or (true and true)
        ("name eq 'x' or tags.name eq 'nightly' and enabled eq true", True),
        (
            "(customProperties.definition.name eq 'env') and (customProperties.value eq 'prod')",
            True,
        ),
        ("((((enabled eq true))))", True),
        (f"tags.name eq 'nightly' and (app.published eq true and app.id eq {APP_ID})", True),
        ("enabled eq false OR taskType eq Reload AND Name So 'sales'", True),
        ("app.name gt 'r' and app.name lt 'T'", True),  # strings order alphabetically
        ("app.name ge 'sales' and app.name le 'SALES'", True),
        (f"app.id sw '{APP_ID[:8].upper()}'", True),
        ("taskSessionTimeout lt " + "9" * 5000, True),
        ("taskSessionTimeout gt -" + "9" * 5000, True),
        # keywords without spaces around a quoted string
        ("name eq 'x'or enabled eq true", True),
    ],
)
def test_filter_on_a_reload_task(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(RELOAD_TASK) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ExecutionId eq 9b9b9b9b-1234-4321-abcd-0123456789ab", True),
        ("executionID eq 9B9B9B9B-1234-4321-ABCD-0123456789AB", True),
        ("executionid eq '9b9b9b9b-1234-4321-abcd-0123456789ab'", True),
        ("executionid eq 9b9b9b9b-1234-4321-abcd-0123456789ac", False),
        (f"taskID eq {TASK_ID} and status eq FinishedSuccess", True),
        ("status eq 7", True),
        ("status ge FinishedSuccess and status le FinishedFail", True),
        ("startTime ge '2026-09-23T12:00:00.000Z' and startTime lt '2026-09-24'", True),
        # an empty list has no elements, so nothing holds for it, not even null checks
        ("details eq null", False),
        ("details ne null", False),
        ("details.message eq null", False),
        ("details.message eq 'x'", False),
        ("details.message ne 'x'", False),
        ("scriptLogAvailable eq false", True),
        ("scriptLogSize eq 0", True),
    ],
)
def test_filter_on_an_execution_result(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(EXECUTION_RESULT) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customProperties.value eq null", True),  # the second element has no value
        ("customProperties.value ne null", True),  # the first one has
        ("customProperties.value eq 'prod'", True),
        ("customProperties.definition.name eq null", False),
        ("tags.name eq null", True),  # an element that is itself null
        ("tags.name ne null", False),
        ("operational.lastExecutionResult eq null", True),
        ("operational.lastExecutionResult.status eq null", True),  # below a null
        ("operational.lastExecutionResult.status ne null", False),
        ("name.first eq null", True),  # below a scalar
    ],
)
def test_null_in_and_below_collections(text: str, expected: bool) -> None:
    entity: dict[str, Any] = {
        "name": "x",
        "customProperties": [
            {"value": "prod", "definition": {"name": "env"}},
            {"definition": {"name": "owner"}},
        ],
        "tags": [None],
        "operational": {"lastExecutionResult": None},
    }
    assert parse_filter(text).matches(entity) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("objectTypes eq 'ReloadTask'", True),
        ("objectTypes eq 'reloadtask'", True),
        ("objectTypes eq 'Stream'", False),
        ("objectTypes sw 'rel'", True),
    ],
)
def test_filter_on_a_list_of_strings(text: str, expected: bool) -> None:
    assert parse_filter(text).matches(DEFINITION) is expected


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_filter_matches_everything(text: str) -> None:
    parsed = parse_filter(text)
    assert parsed.empty
    assert parsed.matches(RELOAD_TASK)
    assert parsed.matches({})
    assert parsed.pinned("id") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name eqq 'x'", "unknown operator 'eqq' at character 6"),
        ("name contains 'x'", "unknown operator 'contains'"),
        ("name 'x'", "unknown operator string 'x' at character 6"),
        ("name", "missing operator after 'name' at character 1"),
        ("name eq 'x", "unterminated string starting at character 9"),
        ("name eq 'O'Brien'", "unterminated string starting at character 17"),
        ("name eq", "missing value after 'eq', found the end of the expression"),
        ("name eq and enabled eq true", "missing value after 'eq', found 'and' at character 9"),
        ("name eq )", "missing value after 'eq', found ')' at character 9"),
        ("(name eq 'x'", "missing ')' for '(' at character 1"),
        ("((name eq 'x')", "missing ')' for '(' at character 1"),
        ("name eq 'x')", "unbalanced ')' at character 12"),
        ("()", "empty parentheses at character 1"),
        ("enabled eq true and ()", "empty parentheses at character 21"),
        ("name eq 'x' garbage", "unexpected 'garbage' at character 13, expected 'and' or 'or'"),
        ("name eq 'x' 'y'", "unexpected string 'y' at character 13"),
        ("(name eq 'x' enabled)", "unexpected 'enabled' at character 14, expected 'and', 'or'"),
        ("name eq 'x' and", "expected a property name, found the end of the expression"),
        ("name eq 'x' or or", "expected a property name, found 'or' at character 16"),
        ("and name eq 'x'", "expected a property name, found 'and' at character 1"),
        ("'name' eq 'x'", "expected a property name, found string 'name' at character 1"),
        ("1name eq 'x'", "invalid property name '1name' at character 1"),
        ("tags..name eq 'x'", "invalid property name 'tags..name'"),
        ("name eq Sales", "unknown value 'Sales' at character 9"),
        ("status eq Finished", "'Finished' at character 11 is no value of 'status'"),
        ("taskType eq FinishedFail", "'FinishedFail' at character 13 is no value of 'taskType'"),
        ("name sw 12", "operator 'sw' needs a quoted string, found '12' at character 9"),
        ("status ew FinishedFail", "operator 'ew' needs a quoted string"),
        ("x so null", "operator 'so' needs a quoted string"),
        ("x gt null", "operator 'gt' cannot compare with 'null' at character 6"),
        ("enabled lt true", "operator 'lt' cannot compare with 'true'"),
        ("not enabled eq true", "unknown operator 'enabled' at character 5"),
    ],
)
def test_malformed_filters_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.message.startswith("Cannot parse the expression: ")
    assert reason in caught.value.message
    assert caught.value.field == "filter"
    assert isinstance(caught.value, InvalidInput)


def test_abusive_filters_are_refused_before_recursing() -> None:
    deep = "(" * 3000 + "enabled eq true" + ")" * 3000
    with pytest.raises(FilterError, match="nested deeper than 100"):
        parse_filter(deep)
    with pytest.raises(FilterError, match="longer than 10000 characters"):
        parse_filter("name eq '" + "x" * 10_000 + "'")
    within = "(" * 100 + "enabled eq true" + ")" * 100
    assert parse_filter(within).matches(RELOAD_TASK)


def test_a_long_chain_of_conditions_evaluates() -> None:
    text = " or ".join(f"name eq 'task {n}'" for n in range(300))
    assert parse_filter(text).matches({"name": "Task 299"})
    assert not parse_filter(text).matches({"name": "Task 300"})


@pytest.mark.parametrize(
    ("text", "path", "pinned"),
    [
        (f"id eq {TASK_ID.upper()}", "id", {TASK_ID}),
        (f"ID eq {TASK_ID}", "Id", {TASK_ID}),
        (
            "executionId eq 9B9B9B9B-1234-4321-ABCD-0123456789AB",
            "executionID",
            {"9b9b9b9b-1234-4321-abcd-0123456789ab"},
        ),
        ("name eq 'Nightly Sales' and enabled eq true", "name", {"nightly sales"}),
        ("enabled eq true and (name eq 'A' or name eq 'b')", "name", {"a", "b"}),
        ("name eq 'a' or name eq 'b'", "name", {"a", "b"}),
        ("name eq 'a' or enabled eq true", "name", None),
        ("name eq 'a' and name eq 'b'", "name", set()),
        ("(name eq 'a' or name eq 'b') and name eq 'b'", "name", {"b"}),
        ("name ne 'a'", "name", None),
        ("name sw 'a'", "name", None),
        ("tags.name eq 'x'", "tags.name", {"x"}),
        ("tags.name eq 'x'", "name", None),
        ("enabled eq true", "name", None),
        # literals that also match values spelled differently pin nothing
        ("startTime eq '2026-09-23'", "startTime", None),
        ("taskType eq '0'", "taskType", None),
        ("status eq 'FinishedFail'", "status", None),
        ("status eq FinishedFail", "status", None),
        ("taskType eq 0", "taskType", None),
        ("name eq null", "name", None),
    ],
)
def test_pinned_values(text: str, path: str, pinned: set[str] | None) -> None:
    result = parse_filter(text).pinned(path)
    assert result == (None if pinned is None else frozenset(pinned))


PIN_CANDIDATES: list[dict[str, Any]] = [
    {"id": TASK_ID, "name": "A", "enabled": True, "tags": [{"name": "X"}]},
    {"id": TASK_ID.upper(), "name": "b", "enabled": False, "tags": []},
    {"id": "11111111-2222-3333-4444-555555555555", "name": "c", "enabled": True},
    {"name": None, "enabled": True, "tags": [{"name": "y"}, {"name": "x"}]},
    {"NAME": "B", "Enabled": True},
]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("name eq 'a' and enabled eq true", "name"),
        ("name eq 'a' or name eq 'B'", "name"),
        ("enabled eq true and (name eq 'a' or name eq 'b')", "name"),
        (f"id eq {TASK_ID} or id eq 11111111-2222-3333-4444-555555555555", "id"),
        ("tags.name eq 'x' and enabled eq true", "tags.name"),
    ],
)
def test_pinned_is_sound(text: str, path: str) -> None:
    parsed = parse_filter(text)
    allowed = parsed.pinned(path)
    assert allowed is not None
    segments = path.lower().split(".")
    for entity in PIN_CANDIDATES:
        if parsed.matches(entity):
            found = _values(entity, segments)
            assert any(str(v).lower() in allowed for v in found), entity


_ATOMS = [
    "name eq 'a'",
    "name eq 'B'",
    "name eq 'c'",
    "name ne 'a'",
    "name eq null",
    "name sw 'b'",
    "enabled eq true",
    "enabled eq false",
    "tags.name eq 'x'",
    f"id eq {TASK_ID}",
]


def _random_filter(rng: random.Random, depth: int = 0) -> str:
    if depth > 2 or rng.random() < 0.4:
        return rng.choice(_ATOMS)
    joiner = rng.choice([" and ", " or "])
    parts = [_random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    text = joiner.join(parts)
    return f"({text})" if rng.random() < 0.5 else text


@pytest.mark.parametrize("seed", range(20))
def test_pinned_is_sound_for_generated_filters(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        text = _random_filter(rng)
        parsed = parse_filter(text)
        for path in ("name", "id", "tags.name"):
            allowed = parsed.pinned(path)
            if allowed is None:
                continue
            for entity in PIN_CANDIDATES:
                if parsed.matches(entity):
                    found = _values(entity, path.split("."))
                    assert any(str(v).lower() in allowed for v in found), (text, entity)


def _values(value: Any, segments: list[str]) -> list[Any]:
    if isinstance(value, list):
        return [v for item in value for v in _values(item, segments)]
    if not segments:
        return [value]
    if not isinstance(value, dict):
        return []
    return [
        v
        for key, child in value.items()
        if key.lower() == segments[0]
        for v in _values(child, segments[1:])
    ]


RESULTS: list[dict[str, Any]] = [
    {"id": "r1", "name": "beta", "status": 8, "startTime": "2026-09-23T12:00:00.000Z"},
    {"id": "r2", "name": "Alpha", "status": 7, "startTime": "1753-01-01T00:00:00.000Z"},
    {"id": "r3", "name": "alpha", "status": 8, "startTime": "2026-09-24T08:00:00.000Z"},
    {"id": "r4", "name": "Gamma", "status": 7, "startTime": None},
    {"id": "r5", "Name": "delta", "status": 1, "startTime": "2026-09-22T23:59:59.999Z"},
]


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", ["r1", "r2", "r3", "r4", "r5"]),
        ("startTime desc", ["r3", "r1", "r5", "r2", "r4"]),
        ("StartTime", ["r2", "r4", "r5", "r1", "r3"]),
        ("startTime asc", ["r2", "r4", "r5", "r1", "r3"]),
        # case-insensitive strings, stable for equal keys, key names case-insensitive
        ("name", ["r2", "r3", "r1", "r5", "r4"]),
        ("NAME DESC", ["r4", "r5", "r1", "r2", "r3"]),
        ("status, name", ["r5", "r2", "r4", "r3", "r1"]),
        ("status desc, startTime desc", ["r3", "r1", "r2", "r4", "r5"]),
        ("Status asc,name desc", ["r5", "r4", "r2", "r1", "r3"]),
        ("noSuchProperty desc", ["r1", "r2", "r3", "r4", "r5"]),
    ],
)
def test_orderby(text: str, order: list[str]) -> None:
    ordered = parse_orderby(text).sort(RESULTS)
    assert [item["id"] for item in ordered] == order


def test_orderby_ranks_mixed_types_without_failing() -> None:
    items: list[dict[str, Any]] = [
        {"v": "b"},
        {"v": 2},
        {"v": True},
        {"v": {"x": 1}},
        {"v": [3, 1]},
        {},
        {"v": 1},
    ]
    ordered = parse_orderby("v").sort(items)
    assert ordered == [
        {},
        {"v": True},
        {"v": 1},
        {"v": 2},
        {"v": [3, 1]},
        {"v": "b"},
        {"v": {"x": 1}},
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name sideways", "unknown direction 'sideways' in sort key 1"),
        ("name asc desc", "unexpected 'desc' in sort key 1"),
        ("name,", "sort key 2 is empty"),
        ("name,,status", "sort key 2 is empty"),
        (", name", "sort key 1 is empty"),
        ("'name'", "invalid property name \"'name'\" in sort key 1"),
        ("startTime desc, 2x", "invalid property name '2x' in sort key 2"),
    ],
)
def test_malformed_orderby_is_rejected(text: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_orderby(text)
    assert caught.value.message.startswith("Cannot parse the orderby expression: ")
    assert reason in caught.value.message
    assert caught.value.field == "orderby"
