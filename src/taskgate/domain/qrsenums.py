"""The QRS enum tables as data: what `GET /qrs/about/api/enums` renders and how filters read names.

QRS entities carry enums as integers; clients decode them with `/qrs/about/api/enums` and filter
with the names (`status eq FinishedFail`). One table per enum serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# QRS's "no id": a start that started nothing answers it, unset references carry it.
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class QrsEnum:
    key: str
    values: tuple[tuple[int, str], ...]
    # `<Entity>.<Property>`; the property part is what a filter path ends with.
    usages: tuple[str, ...]

    def by_name(self) -> dict[str, int]:
        """Lower-case name -> integer, for case-insensitive lookups."""
        return {name.lower(): number for number, name in self.values}

    def name_of(self, number: int) -> str | None:
        return next((name for n, name in self.values if n == number), None)


TASK_EXECUTION_STATUS = QrsEnum(
    # Qlik's own key name for this enum is unconfirmed; clients find it by its usage.
    "TaskExecutionStatusEnum",
    (
        (0, "NeverStarted"),
        (1, "Triggered"),
        (2, "Started"),
        (3, "Queued"),
        (4, "AbortInitiated"),
        (5, "Aborting"),
        (6, "Aborted"),
        (7, "FinishedSuccess"),
        (8, "FinishedFail"),
        (9, "Skipped"),
        (10, "Retry"),
        (11, "Error"),
        (12, "Reset"),
        (13, "DistributionQueue"),
        (14, "DistributionRunning"),
    ),
    ("ExecutionResult.Status", "ExecutionResultCondensed.Status"),
)

TASK_TYPE = QrsEnum(
    "TaskTypeEnum",
    ((0, "Reload"), (1, "ExternalProgram"), (2, "UserSync"), (3, "Distribute"), (4, "Preload")),
    (
        "ReloadTask.TaskType",
        "ReloadTaskCondensed.TaskType",
        "Task.TaskType",
        "TaskCondensed.TaskType",
        "ExternalProgramTask.TaskType",
        "UserSyncTask.TaskType",
    ),
)

ABORT_REASON = QrsEnum(
    "AbortReasonEnum",
    ((0, "Undefined"), (1, "Manual"), (2, "Timeout"), (3, "DeletedTask")),
    ("ExecutionSession.AbortReason", "ExecutionSessionCondensed.AbortReason"),
)

EXECUTION_RESULT_DETAIL_TYPE = QrsEnum(
    "ExecutionResultDetailTypeEnum",
    ((0, "Error"), (1, "Warning"), (2, "Information")),
    ("ExecutionResultDetail.DetailsType", "ExecutionResultDetailCondensed.DetailsType"),
)

EVENT_TYPE = QrsEnum(
    "EventTypeEnum",
    ((0, "Schema"), (1, "Composite")),
    ("CompositeEvent.EventType", "IEvent.EventType", "SchemaEvent.EventType"),
)

INCREMENT_OPTION = QrsEnum(
    "IncrementOptionEnum",
    ((0, "once"), (1, "hourly"), (2, "daily"), (3, "weekly"), (4, "monthly"), (5, "custom")),
    ("SchemaEvent.IncrementOption",),
)

DAYLIGHT_SAVING_TIME = QrsEnum(
    "DaylightSavingTimeEnum",
    (
        (0, "ObserveDaylightSavingTime"),
        (1, "PermanentStandardTime"),
        (2, "PermanentDaylightSavingTime"),
    ),
    ("SchemaEvent.DaylightSavingTime",),
)

RULE_STATE = QrsEnum(
    "RuleStateEnum",
    ((0, "Undefined"), (1, "TaskSuccessful"), (2, "TaskFail")),
    ("CompositeEventRule.RuleState", "CompositeEventRuleOperational.CurrentState"),
)

ENUMS: tuple[QrsEnum, ...] = (
    TASK_EXECUTION_STATUS,
    TASK_TYPE,
    ABORT_REASON,
    EXECUTION_RESULT_DETAIL_TYPE,
    EVENT_TYPE,
    INCREMENT_OPTION,
    DAYLIGHT_SAVING_TIME,
    RULE_STATE,
)


def enums_document() -> dict[str, dict[str, list[str]]]:
    """The body of `GET /qrs/about/api/enums`, with the lower-case keys real clients read."""
    return {
        enum.key: {
            "values": [f"{number}: {name}" for number, name in enum.values],
            "usages": list(enum.usages),
        }
        for enum in ENUMS
    }


def _by_property() -> Mapping[str, Mapping[str, int]]:
    table: dict[str, QrsEnum] = {}
    for enum in ENUMS:
        for usage in enum.usages:
            prop = usage.rsplit(".", 1)[-1].lower()
            if table.setdefault(prop, enum) is not enum:
                # A filter could not tell which table a bare name belongs to.
                raise ValueError(f"property {prop!r} is used by two enums")
    return MappingProxyType(
        {prop: MappingProxyType(enum.by_name()) for prop, enum in table.items()}
    )


_BY_PROPERTY = _by_property()


def enum_for_property(name: str) -> Mapping[str, int] | None:
    """Lower-case enum names -> integers for a property (`status`, `TaskType`), or None."""
    return _BY_PROPERTY.get(name.lower())
