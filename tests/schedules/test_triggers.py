"""Next-fire computations, table-driven, with exact instants (offsets included).

Daylight-saving cases are pinned to real transitions: Europe/Riga 2021 (03:00 -> 04:00 on
28 March, 04:00 -> 03:00 on 31 October; the cases of cronsim's and Debian cron's tables),
America/New_York 2021 (14 March, 7 November) and Australia/Lord_Howe 2021, whose clocks move
by 30 minutes (02:00 -> 02:30 on 3 October, 02:00 -> 01:30 on 4 April).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taskgate.domain.errors import InvalidInput
from taskgate.schedules import triggers
from taskgate.schedules.cron import CronTrigger
from taskgate.schedules.solar import SolarTrigger
from taskgate.schedules.spec import ScheduleSpec, SolarEvent


def fires(trigger: triggers.Trigger, after: datetime, count: int, tz: str) -> list[str]:
    zone = ZoneInfo(tz)
    found: list[str] = []
    moment: datetime | None = after
    for _ in range(count):
        assert moment is not None
        moment = trigger.next_after(moment)
        if moment is None:
            break
        assert moment.tzinfo is not None
        found.append(moment.astimezone(zone).isoformat())
    return found


def local(tz: str, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(tz), fold=fold)  # type: ignore[arg-type,misc]


RIGA, NY, LHI = "Europe/Riga", "America/New_York", "Australia/Lord_Howe"

CRON_CASES: list[tuple[str, str, datetime, list[str]]] = [
    # --- Europe/Riga 2021, autumn: wildcard hours follow the real clock (the hour twice) ---
    (
        "0 * * * *",
        RIGA,
        local(RIGA, 2021, 10, 31, 1, 30),
        [
            "2021-10-31T02:00:00+03:00",
            "2021-10-31T03:00:00+03:00",
            "2021-10-31T03:00:00+02:00",
            "2021-10-31T04:00:00+02:00",
        ],
    ),
    # spring: the missing hour is simply not there
    (
        "*/30 * * * *",
        RIGA,
        local(RIGA, 2021, 3, 28, 2, 10),
        ["2021-03-28T02:30:00+02:00", "2021-03-28T04:00:00+03:00", "2021-03-28T04:30:00+03:00"],
    ),
    # a fixed time in the spring gap runs once, right after the jump
    (
        "30 3 * * *",
        RIGA,
        local(RIGA, 2021, 3, 27, 12, 0),
        ["2021-03-28T04:00:00+03:00", "2021-03-29T03:30:00+03:00"],
    ),
    # a fixed time in the autumn overlap runs once, at its first occurrence
    (
        "30 3 * * *",
        RIGA,
        local(RIGA, 2021, 10, 30, 12, 0),
        ["2021-10-31T03:30:00+03:00", "2021-11-01T03:30:00+02:00"],
    ),
    # asked from inside the repeated hour (second pass): no run goes back in time
    (
        "30 3 * * *",
        RIGA,
        local(RIGA, 2021, 10, 31, 3, 10, fold=1),
        ["2021-11-01T03:30:00+02:00"],
    ),
    (
        "30 1,2,3,4,5 * * *",
        RIGA,
        local(RIGA, 2021, 3, 28, 1, 30),
        [
            "2021-03-28T02:30:00+02:00",
            "2021-03-28T04:00:00+03:00",
            "2021-03-28T04:30:00+03:00",
            "2021-03-28T05:30:00+03:00",
        ],
    ),
    (
        "30 1,2,3,4,5 * * *",
        RIGA,
        local(RIGA, 2021, 10, 31, 1, 30),
        ["2021-10-31T02:30:00+03:00", "2021-10-31T03:30:00+03:00", "2021-10-31T04:30:00+02:00"],
    ),
    # --- America/New_York 2021 ---
    (
        "30 2 * * *",
        NY,
        local(NY, 2021, 3, 13, 12, 0),
        ["2021-03-14T03:00:00-04:00", "2021-03-15T02:30:00-04:00"],
    ),
    (
        "30 1 * * *",
        NY,
        local(NY, 2021, 11, 6, 12, 0),
        ["2021-11-07T01:30:00-04:00", "2021-11-08T01:30:00-05:00"],
    ),
    (
        "0 * * * *",
        NY,
        local(NY, 2021, 11, 7, 0, 30),
        ["2021-11-07T01:00:00-04:00", "2021-11-07T01:00:00-05:00", "2021-11-07T02:00:00-05:00"],
    ),
    # 6 fields (seconds) are not Debian cron: no fix-up, the wall clock decides
    (
        "0 30 2 * * *",
        NY,
        local(NY, 2021, 3, 13, 12, 0),
        ["2021-03-15T02:30:00-04:00", "2021-03-16T02:30:00-04:00"],
    ),
    (
        "0 30 1 * * *",
        NY,
        local(NY, 2021, 11, 6, 12, 0),
        ["2021-11-07T01:30:00-04:00", "2021-11-07T01:30:00-05:00", "2021-11-08T01:30:00-05:00"],
    ),
    # --- Australia/Lord_Howe 2021, a 30-minute shift ---
    (
        "15 2 * * *",
        LHI,
        local(LHI, 2021, 10, 2, 12, 0),
        ["2021-10-03T02:30:00+11:00", "2021-10-04T02:15:00+11:00"],
    ),
    (
        "45 1 * * *",
        LHI,
        local(LHI, 2021, 4, 3, 12, 0),
        ["2021-04-04T01:45:00+11:00", "2021-04-05T01:45:00+10:30"],
    ),
    (
        "*/15 * * * *",
        LHI,
        local(LHI, 2021, 4, 4, 1, 40),
        [
            "2021-04-04T01:45:00+11:00",
            "2021-04-04T01:30:00+10:30",
            "2021-04-04T01:45:00+10:30",
            "2021-04-04T02:00:00+10:30",
        ],
    ),
    # --- syntax, in UTC ---
    ("0 0 L * *", "UTC", local("UTC", 2021, 2, 10), ["2021-02-28T00:00:00+00:00"]),
    (
        "0 0 * * 5L",
        "UTC",
        local("UTC", 2021, 1, 1),
        ["2021-01-29T00:00:00+00:00", "2021-02-26T00:00:00+00:00"],
    ),
    ("0 0 * * mon#2", "UTC", local("UTC", 2021, 1, 1), ["2021-01-11T00:00:00+00:00"]),
    ("0 0 LW * *", "UTC", local("UTC", 2021, 7, 1), ["2021-07-30T00:00:00+00:00"]),
    # day-of-month and day-of-week both restricted: OR (the 1st, or any Monday)
    (
        "0 9 1-7 * mon",
        "UTC",
        local("UTC", 2021, 1, 1, 10),
        ["2021-01-02T09:00:00+00:00", "2021-01-03T09:00:00+00:00", "2021-01-04T09:00:00+00:00"],
    ),
    # one of them starts with `*`: AND
    (
        "0 9 */2 * mon",
        "UTC",
        local("UTC", 2021, 1, 1, 10),
        ["2021-01-11T09:00:00+00:00", "2021-01-25T09:00:00+00:00"],
    ),
    (
        "0 12 * jan-mar sat,sun",
        "UTC",
        local("UTC", 2021, 3, 27, 13),
        ["2021-03-28T12:00:00+00:00", "2022-01-01T12:00:00+00:00"],
    ),
    ("0 0 * * 7", "UTC", local("UTC", 2021, 1, 1), ["2021-01-03T00:00:00+00:00"]),
    (
        "*/20 * * * * *",
        "UTC",
        local("UTC", 2021, 1, 1, 0, 0, 5),
        ["2021-01-01T00:00:20+00:00", "2021-01-01T00:00:40+00:00", "2021-01-01T00:01:00+00:00"],
    ),
    ("@hourly", "UTC", local("UTC", 2021, 1, 1, 0, 5), ["2021-01-01T01:00:00+00:00"]),
    ("@daily", RIGA, local(RIGA, 2021, 1, 1, 0, 5), ["2021-01-02T00:00:00+02:00"]),
    ("@weekly", "UTC", local("UTC", 2021, 1, 1), ["2021-01-03T00:00:00+00:00"]),
    ("@monthly", "UTC", local("UTC", 2021, 1, 1), ["2021-02-01T00:00:00+00:00"]),
    ("@yearly", "UTC", local("UTC", 2021, 1, 1), ["2022-01-01T00:00:00+00:00"]),
    ("0 0 29 2 *", "UTC", local("UTC", 2021, 1, 1), ["2024-02-29T00:00:00+00:00"]),
]


@pytest.mark.parametrize(("expression", "tz", "after", "expected"), CRON_CASES)
def test_cron_next_fire(expression: str, tz: str, after: datetime, expected: list[str]) -> None:
    trigger = CronTrigger(expression, ZoneInfo(tz))
    assert fires(trigger, after, len(expected), tz) == expected


def test_cron_fire_times_are_strictly_after_the_instant_asked() -> None:
    trigger = CronTrigger("* * * * * *", ZoneInfo("UTC"))
    at = datetime(2021, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert trigger.next_after(at) == at + timedelta(seconds=1)
    assert trigger.next_after(at + timedelta(microseconds=500)) == at + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("expression", "cron_field"),
    [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("0 0 32 * *", "day-of-month"),
        ("0 0 30 2 *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 8", "day-of-week"),
        ("0 0 * * mon#6", "day-of-week"),
        ("60 * * * * *", "second"),
        ("0 0 ? * *", "day-of-month"),
    ],
)
def test_cron_errors_name_the_field(expression: str, cron_field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        CronTrigger(expression, ZoneInfo("UTC"))
    assert caught.value.field == "cron"
    assert caught.value.details["cron_field"] == cron_field
    assert f"bad {cron_field}" in caught.value.message


@pytest.mark.parametrize("expression", ["* * *", "@often", "", "* * * * * * *"])
def test_cron_with_a_wrong_number_of_fields(expression: str) -> None:
    with pytest.raises(InvalidInput, match="expected 5 fields") as caught:
        CronTrigger(expression, ZoneInfo("UTC"))
    assert caught.value.field == "cron"


# --- interval ----------------------------------------------------------------------------


def spec(**fields: object) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"task": "t", **fields})


ANCHOR = datetime(2021, 3, 27, 22, 0, tzinfo=UTC)  # midnight in Riga, the night of the change


@pytest.mark.parametrize(
    ("fields", "after", "expected"),
    [
        # hourly across the Riga spring change: real hours, so 02:00+02 is followed by 04:00+03
        (
            {"every": 1, "unit": "hours"},
            ANCHOR,
            ["2021-03-28T01:00:00+02:00", "2021-03-28T02:00:00+02:00", "2021-03-28T04:00:00+03:00"],
        ),
        # daily keeps 24 real hours: the wall-clock time moves by the hour the clock moved
        (
            {"every": 1, "unit": "days", "start_at": "2021-03-27T12:00:00+02:00"},
            datetime(2021, 3, 27, 12, 0, tzinfo=UTC),
            ["2021-03-28T13:00:00+03:00", "2021-03-29T13:00:00+03:00"],
        ),
        # anchored at start_at, not at the instant asked
        (
            {"every": 90, "unit": "seconds"},
            ANCHOR + timedelta(seconds=100),
            ["2021-03-28T00:03:00+02:00", "2021-03-28T00:04:30+02:00"],
        ),
        # before the anchor: the anchor itself is the first fire
        (
            {"every": 5, "unit": "minutes"},
            ANCHOR - timedelta(days=1),
            ["2021-03-28T00:00:00+02:00", "2021-03-28T00:05:00+02:00"],
        ),
        # end_at is inclusive; nothing after it
        (
            {"every": 10, "unit": "minutes", "end_at": "2021-03-27T22:20:00Z"},
            ANCHOR,
            ["2021-03-28T00:10:00+02:00", "2021-03-28T00:20:00+02:00"],
        ),
    ],
)
def test_interval_next_fire(
    fields: dict[str, object], after: datetime, expected: list[str]
) -> None:
    trigger = triggers.build(spec(kind="interval", timezone=RIGA, **fields), ANCHOR)
    # with an end, ask for one more than there is
    count = len(expected) + (1 if "end_at" in fields else 0)
    assert fires(trigger, after, count, RIGA) == expected


def test_clocked_fires_once() -> None:
    at = "2021-10-31T03:30:00+02:00"
    trigger = triggers.build(spec(kind="clocked", at=at, timezone=RIGA), ANCHOR)
    assert fires(trigger, ANCHOR, 3, RIGA) == [at]


def test_cron_start_and_end() -> None:
    trigger = triggers.build(
        spec(
            cron="0 12 * * *",
            start_at="2021-06-03T12:00:00Z",
            end_at="2021-06-05T11:59:59Z",
        ),
        ANCHOR,
    )
    after = datetime(2021, 6, 1, tzinfo=UTC)
    assert fires(trigger, after, 5, "UTC") == [
        "2021-06-03T12:00:00+00:00",
        "2021-06-04T12:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "cron"}, "cron"),
        ({"kind": "cron", "cron": "0 0 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"kind": "interval"}, "every"),
        ({"kind": "interval", "every": 10**9, "unit": "days"}, "every"),
        ({"kind": "solar", "latitude": 1, "longitude": 1}, "event"),
        ({"kind": "solar", "event": "sunrise", "longitude": 1}, "latitude"),
        ({"kind": "clocked"}, "at"),
        ({"kind": "interval", "every": 5, "cron": "* * * * *"}, "cron"),
        (
            {
                "cron": "* * * * *",
                "start_at": "2021-01-02T00:00:00Z",
                "end_at": "2021-01-01T00:00:00Z",
            },
            "end_at",
        ),
    ],
)
def test_build_names_the_field_at_fault(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        triggers.build(spec(**fields), ANCHOR)
    assert caught.value.field == field


# --- solar -------------------------------------------------------------------------------

NYC = (40.7128, -74.0060)

# Published times for New York City on 21 June 2024 (EDT, to the minute).
NYC_2024_06_21 = {
    SolarEvent.DAWN_ASTRONOMICAL: "03:18",
    SolarEvent.DAWN_NAUTICAL: "04:09",
    SolarEvent.DAWN_CIVIL: "04:52",
    SolarEvent.SUNRISE: "05:25",
    SolarEvent.SOLAR_NOON: "12:58",
    SolarEvent.SUNSET: "20:31",
    SolarEvent.DUSK_CIVIL: "21:04",
    SolarEvent.DUSK_NAUTICAL: "21:47",
    SolarEvent.DUSK_ASTRONOMICAL: "22:37",
}


@pytest.mark.parametrize(("event", "expected"), sorted(NYC_2024_06_21.items()))
def test_solar_events_within_a_minute_of_published_times(event: SolarEvent, expected: str) -> None:
    zone = ZoneInfo(NY)
    trigger = SolarTrigger(event, *NYC, 0, zone)
    found = trigger.next_after(local(NY, 2024, 6, 21, 0, 0))
    assert found is not None
    hour, minute = map(int, expected.split(":"))
    published = local(NY, 2024, 6, 21, hour, minute)
    assert abs((found - published).total_seconds()) <= 60, found.astimezone(zone)


def test_solar_offset_and_order() -> None:
    zone = ZoneInfo(NY)
    plain = SolarTrigger(SolarEvent.SUNSET, *NYC, 0, zone)
    later = SolarTrigger(SolarEvent.SUNSET, *NYC, 30, zone)
    after = local(NY, 2024, 6, 21, 0, 0)
    sunset = plain.next_after(after)
    assert sunset is not None
    assert later.next_after(after) == sunset + timedelta(minutes=30)
    # asked again from the fire time itself: the next day's event
    following = plain.next_after(sunset)
    assert following is not None
    assert timedelta(hours=23, minutes=59) < following - sunset < timedelta(hours=24, minutes=1)


TROMSO = (69.6496, 18.9560)


def test_polar_night_days_are_skipped_and_said_so() -> None:
    zone = ZoneInfo("Europe/Oslo")
    trigger = triggers.build(
        spec(
            kind="solar",
            event="sunrise",
            latitude=TROMSO[0],
            longitude=TROMSO[1],
            timezone="Europe/Oslo",
        ),
        ANCHOR,
    )
    after = local("Europe/Oslo", 2021, 12, 1, 0, 0)
    [first] = triggers.preview(trigger, zone, after, 1)
    assert first.at.astimezone(zone).date().isoformat() == "2022-01-15"
    assert "no sunrise from 2021-12-01" in first.note
    assert "days skipped" in first.note
    # solar noon happens every day, even in polar night
    noon = triggers.build(
        spec(kind="solar", event="solar_noon", latitude=TROMSO[0], longitude=TROMSO[1]), ANCHOR
    )
    fires_ = triggers.preview(noon, zone, after, 3)
    assert [f.at.astimezone(zone).day for f in fires_] == [1, 2, 3]
    assert all(f.note == "" for f in fires_)


def test_midnight_sun_has_no_sunset() -> None:
    zone = ZoneInfo("Europe/Oslo")
    trigger = SolarTrigger(SolarEvent.SUNSET, *TROMSO, 0, zone)
    fire = trigger.next_fire(local("Europe/Oslo", 2021, 6, 1, 0, 0))
    assert fire is not None
    assert (
        fire.at.astimezone(zone).date().isoformat() == "2021-07-26"
    )  # 00:29, just after local midnight
    assert fire.skipped_from is not None and fire.skipped_from.isoformat() == "2021-06-01"


def test_preview_gives_local_times() -> None:
    trigger = triggers.build(spec(cron="30 3 * * *", timezone=RIGA), ANCHOR)
    got = triggers.preview(trigger, ZoneInfo(RIGA), local(RIGA, 2021, 3, 27, 12, 0), 2)
    assert [f.local for f in got] == ["2021-03-28T04:00:00+03:00", "2021-03-29T03:30:00+03:00"]
    assert got[0].at == datetime(2021, 3, 28, 1, 0, tzinfo=UTC)


def test_nothing_past_the_year_9999() -> None:
    # Feb 29 on a Wednesday (AND: `*/3` starts with `*`) comes rarely: the preview runs out
    trigger = triggers.build(spec(cron="0 0 29 2 */3"), ANCHOR)
    found = triggers.preview(trigger, ZoneInfo("UTC"), datetime(9990, 1, 1, tzinfo=UTC), 10)
    assert len(found) < 10
    assert trigger.next_after(datetime(9999, 12, 31, tzinfo=UTC)) is None
