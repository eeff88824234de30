"""A salesperson's hours in their own timezone decide when a first message may go out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sales_assistant.models.vendor import VendorProfile
from sales_assistant.services.working_hours import next_opening

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
ANA = VendorProfile(working_hours={"mon": ["09:00-12:00", "13:00-18:00"], "fri": ["09:00-17:00"]})


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
    assert next_opening(VendorProfile(), at(SAO_PAULO, 2026, 11, 28, 10, 0)) == datetime(
        2026, 11, 30, 9, 0, tzinfo=SAO_PAULO
    )


def test_hours_follow_daylight_saving_in_the_salespersons_zone() -> None:
    nina = VendorProfile(timezone="America/New_York", working_hours={"mon": ["09:00-17:00"]})
    # Sunday 2026-03-08 is the US change: Monday 09:00 is 13:00 UTC after it (14:00 UTC before).
    opening = next_opening(nina, at(NEW_YORK, 2026, 3, 7, 12, 0))
    assert opening is not None and opening.astimezone(ZoneInfo("UTC")).hour == 13
    opening = next_opening(nina, at(NEW_YORK, 2026, 2, 28, 12, 0))
    assert opening is not None and opening.astimezone(ZoneInfo("UTC")).hour == 14
