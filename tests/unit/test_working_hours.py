"""A salesperson's hours in their own timezone, closed on holidays, decide when a first message may go out;
hours they cannot work are refused with the span named."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.services.availability import free_slots
from sales_assistant.services.working_hours import day_spans, next_opening

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT_OWL = SalespersonProfile(
    timezone="America/New_York", holidays_country="US", working_hours={"sun": ["00:00-01:30"]}
)
ANA = SalespersonProfile(working_hours={"mon": ["09:00-12:00", "13:00-18:00"], "fri": ["09:00-17:00"]})


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


def test_inside_the_hours_a_first_message_goes_out_now() -> None:
    assert next_opening(ANA, at(SAO_PAULO, 2026, 11, 23, 10, 0)) is None  # Monday 10:00


def test_at_lunch_it_waits_for_the_afternoon() -> None:
    assert next_opening(ANA, at(SAO_PAULO, 2026, 11, 23, 12, 30)) == datetime(2026, 11, 23, 13, 0, tzinfo=SAO_PAULO)


def test_on_friday_night_it_waits_for_monday_morning() -> None:
    opening = next_opening(ANA, at(SAO_PAULO, 2026, 11, 27, 22, 0))
    assert opening == datetime(2026, 11, 30, 9, 0, tzinfo=SAO_PAULO)


def test_a_salesperson_without_hours_works_monday_to_friday_nine_to_six() -> None:
    assert next_opening(SalespersonProfile(), at(SAO_PAULO, 2026, 11, 28, 10, 0)) == datetime(
        2026, 11, 30, 9, 0, tzinfo=SAO_PAULO
    )


def test_hours_follow_daylight_saving_in_the_salespersons_zone() -> None:
    nina = SalespersonProfile(timezone="America/New_York", working_hours={"mon": ["09:00-17:00"]})
    # Sunday 2026-03-08 is the US change: Monday 09:00 is 13:00 UTC after it (14:00 UTC before).
    opening = next_opening(nina, at(NEW_YORK, 2026, 3, 7, 12, 0))
    assert opening is not None and opening.astimezone(ZoneInfo("UTC")).hour == 13
    opening = next_opening(nina, at(NEW_YORK, 2026, 2, 28, 12, 0))
    assert opening is not None and opening.astimezone(ZoneInfo("UTC")).hour == 14


def test_on_a_holiday_a_first_message_waits_for_the_next_working_day_as_bookings_do() -> None:
    christmas_morning = at(SAO_PAULO, 2026, 12, 25, 10, 0)  # a Friday
    assert next_opening(SalespersonProfile(), christmas_morning) == datetime(2026, 12, 28, 9, 0, tzinfo=SAO_PAULO)
    assert next_opening(SalespersonProfile(), at(SAO_PAULO, 2026, 12, 24, 10, 0)) is None  # the day before: open
    christmas = int(at(SAO_PAULO, 2026, 12, 25, 0, 0)), int(at(SAO_PAULO, 2026, 12, 26, 0, 0))
    assert free_slots(SalespersonProfile(), *christmas, int(christmas_morning) - 7 * 86400, set()) == []


def test_a_salesperson_without_national_holidays_works_on_christmas() -> None:
    assert next_opening(SalespersonProfile(holidays_country=""), at(SAO_PAULO, 2026, 12, 25, 10, 0)) is None


def test_after_a_sunday_span_ends_in_the_repeated_dst_hour_the_salesperson_is_closed() -> None:
    """New York falls back on 2025-11-02 (01:00-02:00 happens twice). Hours 00:00-01:30 end at 01:30 EDT
    (05:30 UTC); at 06:15 UTC (01:15 EST) they have been over for 45 minutes."""
    profile = NIGHT_OWL
    now = datetime(2025, 11, 2, 6, 15, tzinfo=UTC).timestamp()
    [(_, end)] = day_spans(profile, datetime(2025, 11, 2).date())
    assert end.timestamp() < now
    assert next_opening(profile, now) is not None, "open 45 minutes after the span ended"


def test_in_the_first_of_the_repeated_dst_hours_a_span_still_going_is_open() -> None:
    profile = NIGHT_OWL
    assert next_opening(profile, datetime(2025, 11, 2, 5, 15, tzinfo=UTC).timestamp()) is None  # 01:15 EDT


@pytest.mark.parametrize("span", ["00:00-24:00", "18:00-24:00", "23:59-24:00", "00:00-00:01"])
def test_working_hours_that_pass_validation_can_be_used(span: str) -> None:
    profile = SalespersonProfile(working_hours={day: [span] for day in ("mon", "tue", "wed", "thu", "fri")})
    try:
        next_opening(profile, time.time())
    except ValueError as error:
        pytest.fail(f"a profile that validated cannot be used: {error}")


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ("18:00-24:30", "mon: '18:00-24:30' is not HH:MM-HH:MM within the day (00:00 to 24:00)"),
        ("24:00-24:00", "mon: '24:00-24:00' is not HH:MM-HH:MM within the day"),
        ("09:60-18:00", "mon: '09:60-18:00' is not HH:MM-HH:MM within the day"),
        ("13:00-13:00", "mon: '13:00-13:00' does not end after it starts"),
        (
            "22:00-06:00",
            "mon: '22:00-06:00' does not end after it starts; a span past midnight goes on two days: "
            'mon: ["22:00-24:00"] and tue: ["00:00-06:00"]',
        ),
        ("22:00-00:00", 'a span past midnight goes on two days: mon: ["22:00-24:00"] ['),  # nothing on tuesday
    ],
)
def test_hours_a_salesperson_cannot_work_are_refused_naming_the_span(span: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SalespersonProfile(working_hours={"mon": ["09:00-12:00", span]})
    assert message in str(refused.value)


def test_a_sunday_night_span_goes_on_until_midnight_and_on_into_monday() -> None:
    with pytest.raises(ValidationError, match=re.escape('sun: ["23:00-24:00"] and mon: ["00:00-02:00"]')):
        SalespersonProfile(working_hours={"sun": ["23:00-02:00"]})
