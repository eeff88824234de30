"""A salesperson's working hours, in their own timezone (DST included, by zoneinfo), closed on holidays.
One notion of "open": first messages wait for it and bookings must fit in it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sales_assistant.models.salesperson import WEEKDAYS, SalespersonProfile
from sales_assistant.observability import logger

DEFAULT_HOURS = {day: ["09:00-18:00"] for day in WEEKDAYS[:5]}  # a salesperson without a profile: Mon-Fri 9-18
LOOKAHEAD_DAYS = 366  # past any run of holidays: hours that never open in a year are no hours at all


def next_opening(profile: SalespersonProfile, now: float) -> datetime | None:
    """None while the salesperson is open at `now`; otherwise when they next open (aware, in the
    salesperson's timezone). Holidays are closed. A profile with no hours on any day counts as always open."""
    today = datetime.fromtimestamp(now, ZoneInfo(profile.timezone)).date()
    for offset in range(LOOKAHEAD_DAYS):
        for start, end in open_spans(profile, today + timedelta(days=offset)):
            # instants, not wall times: in a repeated DST hour the same wall time happens twice
            if start.timestamp() <= now < end.timestamp():
                return None
            if start.timestamp() > now:
                return start
    return None


def after_open_time(profile: SalespersonProfile, start: float, seconds: float) -> float:
    """The instant when `seconds` of the salesperson's open time have passed since `start` (hours counted only
    while they are open, holidays closed): 2 working hours from Friday 19:00 end on Monday at 11:00. A profile
    that never opens counts as always open."""
    left = seconds
    first_day = datetime.fromtimestamp(start, ZoneInfo(profile.timezone)).date()
    for offset in range(LOOKAHEAD_DAYS):
        for span_start, span_end in open_spans(profile, first_day + timedelta(days=offset)):
            begin = max(span_start.timestamp(), start)
            open_seconds = span_end.timestamp() - begin
            if open_seconds >= left:
                return begin + left
            left -= max(open_seconds, 0)
    return start + seconds


def open_spans(profile: SalespersonProfile, day: date) -> list[tuple[datetime, datetime]]:
    """The spans the salesperson is open on a local day: their working spans, none on a holiday."""
    return [] if holiday_name(profile, day) else day_spans(profile, day)


def day_spans(profile: SalespersonProfile, day: date) -> list[tuple[datetime, datetime]]:
    """The salesperson's working spans on a local day, holidays or not, in order (aware datetimes in their
    timezone)."""
    zone = ZoneInfo(profile.timezone)
    hours = profile.working_hours or DEFAULT_HOURS
    spans = []
    for hour_range in hours.get(WEEKDAYS[day.weekday()], []):
        start_text, end_text = hour_range.split("-")
        start = datetime.combine(day, time.fromisoformat(start_text), zone)
        end = (
            datetime.combine(day + timedelta(days=1), time(0), zone)
            if end_text == "24:00"
            else datetime.combine(day, time.fromisoformat(end_text), zone)
        )
        spans.append((start, end))
    return sorted(spans)


def holiday_name(profile: SalespersonProfile, day: date) -> str | None:
    """The holiday's name when `day` is a national (or the profile's regional) holiday."""
    if not profile.holidays_country:
        return None
    calendar = _calendar(profile.holidays_country, profile.holidays_subdivision or None, day.year)
    name = calendar.get(day)
    return str(name) if name else None


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None, year: int) -> Any:
    import holidays  # paid for on first use only (about 0.1 s)

    try:
        return holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:  # a country or state the package does not know: a profile to fix
        logger.warning("holidays not known: none applied", extra={"country": country, "subdivision": subdivision})
        return {}
