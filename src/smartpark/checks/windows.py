"""Evaluation windows in a park's local calendar, as pure functions of `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC interval [start, end) with a name for results."""

    name: str
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        """Length in hours."""
        return (self.end - self.start) / HOUR


def floor_hour(t: datetime) -> datetime:
    """t truncated to the hour (UTC)."""
    return t.replace(minute=0, second=0, microsecond=0)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` starts in `zone`."""
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def last_hour(now: datetime) -> Window:
    """The last complete hour."""
    end = floor_hour(now)
    return Window("hour", end - HOUR, end)


def last_day(now: datetime, zone: ZoneInfo) -> Window:
    """The last complete local day."""
    today = now.astimezone(zone).date()
    return Window(
        "day", local_midnight(today - timedelta(days=1), zone), local_midnight(today, zone)
    )


def month_to_date(now: datetime, zone: ZoneInfo) -> Window:
    """The local month so far, up to the last complete hour."""
    first = now.astimezone(zone).date().replace(day=1)
    return Window("month", local_midnight(first, zone), floor_hour(now))


def period(kind: str, now: datetime, zone: ZoneInfo) -> Window:
    """A whole permit period containing `now`: month, year, or the 12 months up to now."""
    local = now.astimezone(zone).date()
    if kind == "month":
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Window("month", local_midnight(first, zone), local_midnight(following, zone))
    if kind == "year":
        first = local.replace(month=1, day=1)
        return Window(
            "year",
            local_midnight(first, zone),
            local_midnight(first.replace(year=first.year + 1), zone),
        )
    end = floor_hour(now)
    return Window("rolling_12_months", end - timedelta(days=365), end)
