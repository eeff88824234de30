"""A meeting held, on fakes: once the no-show grace period after its end is over (the appointment's `over`
schedule fires) and nobody marked it missed, the meeting counts `meeting_held` in the funnel, once per
appointment; a moved meeting counts only in its last version, a cancelled one never; a `/faltou` that comes
later takes the count back (tests/integration/test_scheduling_followups.py fires the schedule on moto)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.models.appointment import Appointment, BookingRequest, RescheduleRequest
from sales_assistant.models.queue import AppointmentOverDue
from sales_assistant.services.meetings_held import decide_held
from tests.unit.flows import DAY, HOUR, SAO_PAULO, Fakes, meetings_held, scheduling
from tests.unit.test_no_show_decisions import ANA, MARIANA, MARIANA_LEAD, ana_notes, mariana_wrote

GRACE = 24 * HOUR  # NO_SHOW_GRACE_HOURS' default


@pytest.fixture
def fakes() -> Fakes:
    """Monday: Ana's lead Mariana is about to book a meeting."""
    fakes = Fakes(datetime(2026, 3, 2, 9, 0, tzinfo=SAO_PAULO))
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    return fakes


def book_tuesday(fakes: Fakes, hour: int = 10) -> Appointment:
    start = datetime(2026, 3, 3, hour, 0, tzinfo=SAO_PAULO)
    return scheduling(fakes).book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start))


def grace_over(fakes: Fakes, appointment: Appointment) -> str:
    """The `over` schedule of this version of the appointment fires (adapters/reminders.py set it at end + grace)."""
    fakes.clock.now = max(fakes.clock.now, appointment.end + GRACE)
    item = AppointmentOverDue(appointment_id=appointment.appointment_id, version=appointment.version)
    return meetings_held(fakes).over(item)


def counted(fakes: Fakes, name: str) -> int:
    return fakes.funnel_counts.month_totals("2026-03").get(name, 0)


def test_a_meeting_nobody_marked_missed_counts_held_once(fakes: Fakes) -> None:
    meeting = book_tuesday(fakes)

    assert grace_over(fakes, meeting) == "held"
    assert grace_over(fakes, meeting) == "held"  # the schedule's queue item delivered again

    assert counted(fakes, "meeting_held") == 1
    assert counted(fakes, "meeting_booked") == 1


def test_a_rescheduled_meeting_counts_held_only_in_its_last_version(fakes: Fakes) -> None:
    first = book_tuesday(fakes)
    moved = scheduling(fakes).reschedule(
        first.appointment_id, RescheduleRequest(start=datetime(2026, 3, 3, 15, 0, tzinfo=SAO_PAULO))
    )

    assert grace_over(fakes, first) == "stale"  # the first version's schedule, delivered late
    assert counted(fakes, "meeting_held") == 0
    assert grace_over(fakes, moved) == "held"
    assert counted(fakes, "meeting_held") == 1


def test_a_cancelled_meeting_never_counts_held(fakes: Fakes) -> None:
    meeting = book_tuesday(fakes)
    scheduling(fakes).cancel(meeting.appointment_id)

    assert grace_over(fakes, meeting) == "stale"
    assert counted(fakes, "meeting_held") == 0


def test_a_meeting_marked_missed_within_the_grace_period_never_counts_held(fakes: Fakes) -> None:
    meeting = book_tuesday(fakes)
    fakes.clock.now = meeting.end + HOUR
    mariana_wrote(fakes)
    ana_notes(fakes, "/faltou")

    assert grace_over(fakes, meeting) == "stale"
    assert counted(fakes, "meeting_held") == 0
    assert counted(fakes, "meeting_no_show") == 1


def test_faltou_after_the_meeting_counted_held_takes_the_count_back_once(fakes: Fakes) -> None:
    meeting = book_tuesday(fakes)
    assert grace_over(fakes, meeting) == "held"
    assert counted(fakes, "meeting_held") == 1

    fakes.clock.now += DAY  # Ana marks it two days after the meeting
    mariana_wrote(fakes)
    ana_notes(fakes, "/faltou", note_id=601)
    ana_notes(fakes, "/faltou", note_id=601)  # the same note delivered again
    ana_notes(fakes, "/faltou", note_id=602)  # and once more, by mistake

    assert counted(fakes, "meeting_held") == 0
    assert counted(fakes, "meeting_no_show") == 1


def test_once_faltou_decided_the_meeting_was_missed_a_late_schedule_does_not_count_it_held(fakes: Fakes) -> None:
    """`/faltou` and the schedule racing: the first to decide stands, even if the appointment still read booked."""
    meeting = book_tuesday(fakes)
    decide_held(fakes.once, meeting.appointment_id, held=False)  # what `/faltou` records first

    assert grace_over(fakes, meeting) == "missed"
    assert counted(fakes, "meeting_held") == 0
