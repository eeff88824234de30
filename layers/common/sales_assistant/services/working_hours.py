"""A salesperson's working hours, in their own timezone (DST included, by zoneinfo)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sales_assistant.models.vendor import WEEKDAYS, VendorProfile

DEFAULT_HOURS = {day: ["09:00-18:00"] for day in WEEKDAYS[:5]}  # a salesperson without a profile: Mon-Fri 9-18


def next_opening(profile: VendorProfile, now: float) -> datetime | None:
    """None while the salesperson's hours are open at `now`; otherwise when they next open (aware, in the
    salesperson's timezone). A profile with no hours on any day counts as always open."""
    zone = ZoneInfo(profile.timezone)
    local = datetime.fromtimestamp(now, zone)
    hours = profile.working_hours or DEFAULT_HOURS
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        for start, end in sorted(_spans(hours.get(WEEKDAYS[day.weekday()], []), day, zone)):
            if start <= local < end:
                return None
            if start > local:
                return start
    return None


def _spans(ranges: list[str], day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    spans = []
    for hour_range in ranges:
        start_text, end_text = hour_range.split("-")
        start = datetime.combine(day, time.fromisoformat(start_text), zone)
        end = (
            datetime.combine(day + timedelta(days=1), time(0), zone)
            if end_text == "24:00"
            else datetime.combine(day, time.fromisoformat(end_text), zone)
        )
        spans.append((start, end))
    return spans
