"""A salesperson's working hours, in their own timezone (DST included, by zoneinfo)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sales_assistant.models.vendor import WEEKDAYS, VendorProfile

DEFAULT_HOURS = {day: ["09:00-18:00"] for day in WEEKDAYS[:5]}  # a salesperson without a profile: Mon-Fri 9-18


def next_opening(profile: VendorProfile, now: float) -> datetime | None:
    """None while the salesperson's hours are open at `now`; otherwise when they next open (aware, in the
    salesperson's timezone). A profile with no hours on any day counts as always open."""
    local = datetime.fromtimestamp(now, ZoneInfo(profile.timezone))
    for offset in range(8):
        for start, end in day_spans(profile, local.date() + timedelta(days=offset)):
            if start <= local < end:
                return None
            if start > local:
                return start
    return None


def day_spans(profile: VendorProfile, day: date) -> list[tuple[datetime, datetime]]:
    """The salesperson's working spans on a local day, in order (aware datetimes in their timezone)."""
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
