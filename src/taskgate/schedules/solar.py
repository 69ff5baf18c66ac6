"""Solar events with ephem, defined exactly as Celery's `solar` schedule defines them.

The observer stands at the given latitude/longitude at sea level with refraction switched off
(`pressure=0`); each event is the Sun crossing a horizon: sunrise and sunset by its upper
edge at -0°34' (the usual refraction allowance), dawn and dusk by its centre at -6°, -12° or
-18°, solar noon at the meridian transit. Days on which the Sun never crosses that horizon
(polar day or night) have no event; the search steps to the next day and says which days it
passed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from taskgate.schedules.spec import SolarEvent

# (ephem method, horizon, measured at the Sun's centre)
EVENTS: dict[SolarEvent, tuple[str, str, bool]] = {
    SolarEvent.DAWN_ASTRONOMICAL: ("next_rising", "-18", True),
    SolarEvent.DAWN_NAUTICAL: ("next_rising", "-12", True),
    SolarEvent.DAWN_CIVIL: ("next_rising", "-6", True),
    SolarEvent.SUNRISE: ("next_rising", "-0:34", False),
    SolarEvent.SOLAR_NOON: ("next_transit", "0", False),
    SolarEvent.SUNSET: ("next_setting", "-0:34", False),
    SolarEvent.DUSK_CIVIL: ("next_setting", "-6", True),
    SolarEvent.DUSK_NAUTICAL: ("next_setting", "-12", True),
    SolarEvent.DUSK_ASTRONOMICAL: ("next_setting", "-18", True),
}
# Polar night lasts at most about six months: give up after a year of days without the event.
MAX_DAYS_WITHOUT = 370


@dataclass(frozen=True)
class SolarFire:
    at: datetime
    skipped_from: date | None = None
    skipped_to: date | None = None


class SolarTrigger:
    def __init__(
        self,
        event: SolarEvent,
        latitude: float,
        longitude: float,
        offset_minutes: float,
        zone: ZoneInfo,
    ) -> None:
        self.event = event
        self.latitude = latitude
        self.longitude = longitude
        self.offset = timedelta(minutes=offset_minutes)
        self.zone = zone

    def _observer(self) -> Any:
        import ephem  # on first use: ~1.1 MiB that a server without solar schedules does not need

        observer = ephem.Observer()
        observer.lat = str(self.latitude)
        observer.lon = str(self.longitude)
        observer.elev = 0
        observer.pressure = 0
        observer.horizon = EVENTS[self.event][1]
        return observer

    def next_fire(self, after: datetime) -> SolarFire | None:
        """The first event (plus offset) strictly after `after`, and the days it skipped."""
        import ephem  # on first use, as in `_observer`

        method, _, use_center = EVENTS[self.event]
        observer = self._observer()
        sun = ephem.Sun()
        start = (after - self.offset).astimezone(UTC)
        skipped: list[date] = []
        for _ in range(MAX_DAYS_WITHOUT):
            when = ephem.Date(start.replace(tzinfo=None))
            observer.date = when
            try:
                if method == "next_transit":
                    found = observer.next_transit(sun, start=when)
                else:
                    found = getattr(observer, method)(sun, start=when, use_center=use_center)
            except ephem.CircumpolarError:
                # No such crossing in the coming day: look again after the next anti-transit
                # (local midnight of the Sun), as Celery does.
                skipped.append(start.astimezone(self.zone).date())
                midnight = observer.next_antitransit(sun, start=when)
                start = _utc(midnight) + timedelta(minutes=1)
                continue
            moment = _utc(found) + self.offset
            if moment <= after:  # ephem rounds; never give back the instant asked after
                start = _utc(found) + timedelta(seconds=1)
                continue
            if skipped:
                return SolarFire(moment, skipped[0], skipped[-1])
            return SolarFire(moment)
        return None

    def next_after(self, after: datetime) -> datetime | None:
        fire = self.next_fire(after)
        return fire.at if fire else None


def _utc(value: Any) -> datetime:
    import ephem  # on first use, as in `SolarTrigger._observer`

    moment: datetime = ephem.Date(value).datetime()
    # ephem keeps time to about a microsecond; whole milliseconds keep stored slots tidy.
    return moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
