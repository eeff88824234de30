"""A salesperson's bookable slots: their hours in their own timezone (DST included), holidays, notice,
horizon, buffer, and what is already booked."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sales_assistant.models.appointment import Slot
from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.services.availability import Interval, Unbookable, bookable, free_slots, grains, nearest_free

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
LISBON = ZoneInfo("Europe/Lisbon")
NEWLY_SYNCED = SalespersonProfile()  # no profile: Mon-Fri 09-18 São Paulo, 30-minute meetings, BR holidays


def ts(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=zone).timestamp())


def starts(slots: list[Slot], zone: ZoneInfo) -> list[str]:
    return [slot.start.astimezone(zone).strftime("%a %d %H:%M") for slot in slots]


def test_a_week_of_a_newly_synced_salesperson_skips_the_weekend_and_the_national_holiday() -> None:
    now = ts(SAO_PAULO, 2026, 11, 13, 12)  # the Friday before
    week = free_slots(NEWLY_SYNCED, ts(SAO_PAULO, 2026, 11, 16), ts(SAO_PAULO, 2026, 11, 23), now, set())
    days = sorted({slot.start.strftime("%a %d") for slot in week})
    assert days == ["Mon 16", "Thu 19", "Tue 17", "Wed 18"]  # Friday 20: Consciência Negra (national)
    assert len(week) == 4 * 18  # 09:00 ... 17:30
    assert week[0].start.isoformat() == "2026-11-16T09:00:00-03:00" and week[0].end.isoformat().endswith(
        "09:30:00-03:00"
    )


def test_a_regional_holiday_counts_only_for_the_salesperson_of_that_state() -> None:
    now = ts(SAO_PAULO, 2026, 7, 1, 12)
    day = (ts(SAO_PAULO, 2026, 7, 9), ts(SAO_PAULO, 2026, 7, 10))  # 9 July: Revolução Constitucionalista (SP)
    assert free_slots(NEWLY_SYNCED, *day, now, set())
    assert free_slots(SalespersonProfile(holidays_subdivision="SP"), *day, now, set()) == []
    with pytest.raises(Unbookable) as refused:
        bookable(SalespersonProfile(holidays_subdivision="SP"), datetime(2026, 7, 9, 10, tzinfo=SAO_PAULO), now)
    assert refused.value.code == "holiday"


@pytest.mark.parametrize(
    ("zone", "before", "after", "offsets"),
    [
        (NEW_YORK, (2026, 10, 30), (2026, 11, 2), ("-04:00", "-05:00")),  # clocks back on 1 November
        (LISBON, (2026, 10, 23), (2026, 10, 26), ("+01:00", "+00:00")),  # clocks back on 25 October
        (NEW_YORK, (2026, 3, 6), (2026, 3, 9), ("-05:00", "-04:00")),  # clocks forward on 8 March
    ],
)
def test_across_a_dst_change_the_salesperson_still_starts_at_nine_local(
    zone: ZoneInfo, before: tuple[int, int, int], after: tuple[int, int, int], offsets: tuple[str, str]
) -> None:
    profile = SalespersonProfile(timezone=str(zone), holidays_country="")
    now = ts(zone, *before) - 86400
    for day, offset in zip((before, after), offsets, strict=True):
        [first, *_] = free_slots(profile, ts(zone, *day), ts(zone, *day, 23), now, set())
        assert first.start.isoformat() == f"{day[0]}-{day[1]:02d}-{day[2]:02d}T09:00:00{offset}"


def test_a_start_given_in_another_offset_is_judged_in_the_salespersons_own_time() -> None:
    profile = SalespersonProfile(timezone="America/New_York", holidays_country="US")
    now = ts(NEW_YORK, 2026, 10, 28)
    assert bookable(profile, datetime.fromisoformat("2026-11-02T14:00:00+00:00"), now).start == ts(
        NEW_YORK, 2026, 11, 2, 9
    )
    with pytest.raises(Unbookable) as refused:  # 09:00 at -04:00 is 08:00 in New York after the change
        bookable(profile, datetime.fromisoformat("2026-11-02T09:00:00-04:00"), now)
    assert refused.value.code == "outside_hours"


@pytest.mark.parametrize(
    ("start", "code"),
    [
        (datetime(2026, 11, 16, 9, 0, tzinfo=SAO_PAULO), "in_the_past"),
        (datetime(2026, 11, 16, 10, 30, tzinfo=SAO_PAULO), "too_soon"),  # 2 hours' notice by default
        (datetime(2026, 12, 17, 10, 0, tzinfo=SAO_PAULO), "beyond_horizon"),  # 30 days by default
        (datetime(2026, 11, 21, 10, 0, tzinfo=SAO_PAULO), "outside_hours"),  # Saturday
        (datetime(2026, 11, 16, 17, 45, tzinfo=SAO_PAULO), "outside_hours"),  # would end at 18:15
    ],
)
def test_a_start_that_cannot_be_booked_says_why(start: datetime, code: str) -> None:
    with pytest.raises(Unbookable) as refused:
        bookable(NEWLY_SYNCED, start, ts(SAO_PAULO, 2026, 11, 16, 9, 30))
    assert refused.value.code == code


def test_a_meeting_and_its_buffer_occupy_whole_five_minute_grains() -> None:
    profile = SalespersonProfile(meeting_minutes=30, buffer_minutes=10)
    interval = Interval.starting(ts(SAO_PAULO, 2026, 11, 16, 10), profile)
    assert len(interval.grains) == 8 and interval.grains[0] == interval.start  # 10:00 ... 10:35
    assert grains(interval.start + 60, interval.start + 301) == [interval.start, interval.start + 300]


def test_booked_grains_and_their_buffer_are_not_offered_and_the_nearest_free_are() -> None:
    profile = SalespersonProfile(buffer_minutes=10)
    now = ts(SAO_PAULO, 2026, 11, 13, 12)
    busy = set(Interval.starting(ts(SAO_PAULO, 2026, 11, 16, 10), profile).grains)
    day = free_slots(profile, ts(SAO_PAULO, 2026, 11, 16, 9), ts(SAO_PAULO, 2026, 11, 16, 12), now, busy)
    assert starts(day, SAO_PAULO) == ["Mon 16 09:00", "Mon 16 11:00", "Mon 16 11:30"]  # 09:30 + buffer reaches 10:00
    nearest = nearest_free(profile, ts(SAO_PAULO, 2026, 11, 16, 10), now, busy)
    assert starts(nearest, SAO_PAULO) == ["Mon 16 09:00", "Mon 16 11:00", "Mon 16 11:30"]


def test_a_meeting_with_its_buffer_must_fit_one_transaction() -> None:
    with pytest.raises(ValueError, match="at most 240"):
        SalespersonProfile(meeting_minutes=240, buffer_minutes=10)


def test_a_profile_with_an_unknown_timezone_is_refused_and_an_unknown_country_has_no_holidays() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        SalespersonProfile(timezone="America/Atlantis")
    profile = SalespersonProfile(holidays_country="XX")
    now = ts(SAO_PAULO, 2026, 11, 13, 12)
    assert len(free_slots(profile, ts(SAO_PAULO, 2026, 11, 20), ts(SAO_PAULO, 2026, 11, 21), now, set())) == 18
