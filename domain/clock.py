"""Borrower-local time: windows, day boundaries and deadlines, correct across DST and midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local(now: datetime, tz: str) -> datetime:
    return now.astimezone(ZoneInfo(tz))


def at_local(day: date, clock: time, tz: str) -> datetime:
    """The UTC instant of `clock` on `day` in `tz`. An ambiguous time (clocks going back) is its
    first occurrence; a time inside a DST gap moves forward by the gap's length, so a window or a
    day that starts in a gap starts when the gap ends."""
    return datetime.combine(day, clock).replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC)


def start_of_local_day(now: datetime, tz: str) -> datetime:
    return at_local(local(now, tz).date(), time(0, 0), tz)


def end_of_local_day(day: date, tz: str) -> datetime:
    return at_local(day + timedelta(days=1), time(0, 0), tz)


def next_window_start(now: datetime, tz: str, start: time, end: time) -> datetime | None:
    """None when `now` is inside [start, end) local time; else the next instant the window opens."""
    here = local(now, tz)
    today_start, today_end = at_local(here.date(), start, tz), at_local(here.date(), end, tz)
    if today_start <= now < today_end:
        return None
    if now < today_start:
        return today_start
    return at_local(here.date() + timedelta(days=1), start, tz)


def next_local_day_at(now: datetime, tz: str, clock: time) -> datetime:
    return at_local(local(now, tz).date() + timedelta(days=1), clock, tz)


DAYTIME_ZONES = ["Asia/Shanghai", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
                 "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland", "America/Sao_Paulo", "Asia/Dubai"]


def zone_inside_window(now: datetime, start: time, end: time, zones: list[str] = DAYTIME_ZONES,
                       margin: timedelta = timedelta(hours=1)) -> str:
    """A zone where `now` is inside the window with `margin` to spare (for demos and live tests,
    which run on the real clock but must not wait for a borrower's morning)."""
    for tz in zones:
        here = local(now, tz)
        if at_local(here.date(), start, tz) <= now and now + margin < at_local(here.date(), end, tz):
            return tz
    raise LookupError("no listed zone is inside the window now")


def earliest(*times: datetime | None) -> datetime | None:
    """The soonest of some wake-up times (None: no time of its own)."""
    present = [t for t in times if t is not None]
    return min(present) if present else None
