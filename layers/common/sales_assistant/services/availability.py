"""A salesperson's bookable slots: working hours in their timezone (DST included), minus holidays, minimum
notice, the booking horizon and what is already booked or held. Pure: the agenda's busy grains come in.

The agenda is cut into `GRAIN_SECONDS` grains: a meeting occupies every grain its interval plus the
salesperson's buffer touches, and two meetings overlap exactly when they share a grain. That is what
makes a double booking impossible: one DynamoDB item per occupied grain, written only if absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sales_assistant.models.appointment import Slot
from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.services.working_hours import holiday_name, open_spans

GRAIN_SECONDS = 300
NEAREST_FREE = 3
NEAREST_WINDOW_DAYS = 7


class Unbookable(Exception):
    """A start that cannot be booked: `code` and `message` go to the caller (the AI relays them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Interval:
    """A meeting's [start, end) and the end of what it occupies (end + buffer), unix seconds."""

    start: int
    end: int
    occupied_until: int

    @classmethod
    def starting(cls, start: int, profile: SalespersonProfile) -> Interval:
        end = start + profile.meeting_minutes * 60
        return cls(start, end, end + profile.buffer_minutes * 60)

    @property
    def grains(self) -> list[int]:
        return grains(self.start, self.occupied_until)


def grains(start: int, until: int) -> list[int]:
    """The grains (their start, unix seconds) that [start, until) touches."""
    return list(range(start - start % GRAIN_SECONDS, until, GRAIN_SECONDS))


def free_slots(profile: SalespersonProfile, start: int, end: int, now: int, busy: set[int]) -> list[Slot]:
    """The salesperson's free slots that start within [start, end), earliest first."""
    earliest, latest = _bookable_window(profile, now)
    return [
        Slot.of(interval.start, interval.end, profile.timezone)
        for interval in _candidates(profile, max(start, earliest), min(end, latest + 1))
        if busy.isdisjoint(interval.grains)
    ]


def nearest_free(profile: SalespersonProfile, start: int, now: int, busy: set[int]) -> list[Slot]:
    """Up to NEAREST_FREE free slots closest to `start` (either side), in time order."""
    window = NEAREST_WINDOW_DAYS * 86400
    slots = free_slots(profile, start - window, start + window, now, busy)
    closest = sorted(slots, key=lambda slot: abs(slot.start.timestamp() - start))[:NEAREST_FREE]
    return sorted(closest, key=lambda slot: slot.start)


def bookable(profile: SalespersonProfile, start: datetime, now: int, *, held: bool = False) -> Interval:
    """The interval a meeting starting at `start` occupies; raises Unbookable with the reason it cannot be.
    `held`: the slot is held for this booking, so it passed the notice when it was held."""
    begin = int(start.timestamp())
    if start.timestamp() != begin:
        raise Unbookable("invalid_start", "start must be a whole second")
    interval = Interval.starting(begin, profile)
    earliest, latest = _bookable_window(profile, now)
    if begin < now:
        raise Unbookable("in_the_past", "start is in the past")
    if begin < earliest and not held:
        raise Unbookable("too_soon", f"meetings need {profile.min_notice_minutes} minutes' notice")
    if begin > latest:
        raise Unbookable("beyond_horizon", f"meetings can be booked at most {profile.horizon_days} days ahead")
    local_day = datetime.fromtimestamp(begin, ZoneInfo(profile.timezone)).date()
    holiday = holiday_name(profile, local_day)
    if holiday:
        raise Unbookable("holiday", f"{local_day.isoformat()} is a holiday ({holiday})")
    if not any(
        span_start.timestamp() <= interval.start and interval.end <= span_end.timestamp()
        for span_start, span_end in open_spans(profile, local_day)
    ):
        raise Unbookable("outside_hours", "the meeting does not fit in the salesperson's working hours")
    return interval


def _bookable_window(profile: SalespersonProfile, now: int) -> tuple[int, int]:
    return now + profile.min_notice_minutes * 60, now + profile.horizon_days * 86400


def _candidates(profile: SalespersonProfile, start: int, end: int) -> list[Interval]:
    """Meeting starts every meeting length from each working span's opening, within [start, end)."""
    if end <= start:
        return []
    zone = ZoneInfo(profile.timezone)
    day = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end, zone).date()
    found = []
    while day <= last:
        for span_start, span_end in open_spans(profile, day):
            begin, close = int(span_start.timestamp()), int(span_end.timestamp())
            for at in range(begin, close - profile.meeting_minutes * 60 + 1, profile.meeting_minutes * 60):
                if start <= at < end:
                    found.append(Interval.starting(at, profile))
        day += timedelta(days=1)
    return found
