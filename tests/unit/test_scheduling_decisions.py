"""The scheduling service's decisions on fakes: which slot a lead gets, when a booking is refused and
what the refusal offers instead (tests/integration/test_scheduling.py drives the same service through the
scheduling routes and DynamoDB's transactions)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.models.appointment import Appointment, BookingRequest, RescheduleRequest
from sales_assistant.models.queue import AppointmentChanged
from sales_assistant.services.booking_conflicts import LeadHasAppointment, SlotUnavailable
from sales_assistant.services.scheduling import SchedulingService
from tests.unit.flows import SAO_PAULO, Fakes, scheduling

MARIANA_LEAD, MARIANA = 27754599, 93589657
JULIANA_LEAD, JULIANA = 27754601, 93589659
ANA = 8401234  # weekdays 9-18, meetings of 30 minutes, two hours' notice


def tuesday(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 3, hour, minute, tzinfo=SAO_PAULO)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes(datetime(2026, 3, 2, 8, 0, tzinfo=SAO_PAULO))  # Monday morning
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    fakes.add_lead(JULIANA_LEAD, JULIANA, "Juliana Pereira", area="Auto", responsible=ANA)
    return fakes


@pytest.fixture
def service(fakes: Fakes) -> SchedulingService:
    return scheduling(fakes)


def book(service: SchedulingService, lead_id: int, start: datetime, key: str | None = None) -> Appointment:
    return service.book(BookingRequest(vendor_id=ANA, lead_id=lead_id, start=start, idempotency_key=key))


def offered_on_tuesday(service: SchedulingService) -> list[str]:
    slots = service.availability(ANA, tuesday(9), tuesday(18))["slots"]
    assert isinstance(slots, list)
    return [slot["start"][11:16] for slot in slots]


def changes(fakes: Fakes) -> list[tuple[str, str, int]]:
    """What the scheduling queue got: each change, its appointment and version."""
    published = [item for item in fakes.queue.published if isinstance(item, AppointmentChanged)]
    return [(item.change, item.appointment.appointment_id, item.appointment.version) for item in published]


def test_a_free_slot_is_booked_and_offered_no_more(fakes: Fakes, service: SchedulingService) -> None:
    assert "10:00" in offered_on_tuesday(service)

    appointment = book(service, MARIANA_LEAD, tuesday(10))

    assert (appointment.start, appointment.end) == (tuesday(10).timestamp(), tuesday(10, 30).timestamp())
    assert (appointment.vendor_id, appointment.contact_id, appointment.status) == (ANA, MARIANA, "booked")
    assert fakes.agenda.appointments == {appointment.appointment_id: appointment}
    assert "10:00" not in offered_on_tuesday(service) and "10:30" in offered_on_tuesday(service)
    assert changes(fakes) == [("booked", appointment.appointment_id, 1)]


def test_the_same_idempotency_key_gets_the_same_appointment_back(fakes: Fakes, service: SchedulingService) -> None:
    first = book(service, MARIANA_LEAD, tuesday(10), key="n8n-call-7")
    again = book(service, MARIANA_LEAD, tuesday(10), key="n8n-call-7")

    assert again == first
    assert list(fakes.agenda.appointments) == [first.appointment_id]
    # its follow-ups are queued again (each runs once): a first answer lost before they were queued is covered
    assert changes(fakes) == [("booked", first.appointment_id, 1)] * 2


def test_a_taken_slot_is_refused_with_the_nearest_free_slots(fakes: Fakes, service: SchedulingService) -> None:
    book(service, MARIANA_LEAD, tuesday(10))

    with pytest.raises(SlotUnavailable) as refused:
        book(service, JULIANA_LEAD, tuesday(10))

    assert refused.value.code == "slot_taken"
    assert refused.value.details["nearest_free"] == [
        {"start": tuesday(9).isoformat(), "end": tuesday(9, 30).isoformat()},
        {"start": tuesday(9, 30).isoformat(), "end": tuesday(10).isoformat()},
        {"start": tuesday(10, 30).isoformat(), "end": tuesday(11).isoformat()},
    ]
    assert len(fakes.agenda.appointments) == 1 and len(changes(fakes)) == 1


def test_a_lead_with_an_appointment_to_come_is_shown_it_instead_of_a_second_one(
    fakes: Fakes, service: SchedulingService
) -> None:
    booked = book(service, MARIANA_LEAD, tuesday(10))

    with pytest.raises(LeadHasAppointment) as refused:
        book(service, MARIANA_LEAD, tuesday(15))

    assert refused.value.details == {"appointments": [booked.view()]}
    assert list(fakes.agenda.appointments) == [booked.appointment_id]
    assert "15:00" in offered_on_tuesday(service)


def test_a_cancelled_appointment_frees_its_slot_for_another_lead(fakes: Fakes, service: SchedulingService) -> None:
    booked = book(service, MARIANA_LEAD, tuesday(10))

    cancelled = service.cancel(booked.appointment_id)

    assert (cancelled.status, cancelled.version) == ("cancelled", 2)
    assert "10:00" in offered_on_tuesday(service)
    juliana = book(service, JULIANA_LEAD, tuesday(10))
    assert changes(fakes) == [
        ("booked", booked.appointment_id, 1),
        ("cancelled", booked.appointment_id, 2),
        ("booked", juliana.appointment_id, 1),
    ]


def test_a_reschedule_moves_the_appointment_and_frees_its_old_slot(fakes: Fakes, service: SchedulingService) -> None:
    booked = book(service, MARIANA_LEAD, tuesday(10))

    moved = service.reschedule(booked.appointment_id, RescheduleRequest(start=tuesday(14)))

    assert (moved.appointment_id, moved.start, moved.previous_start, moved.version) == (
        booked.appointment_id,
        tuesday(14).timestamp(),
        booked.start,
        2,
    )
    offered = offered_on_tuesday(service)
    assert "10:00" in offered and "14:00" not in offered
    assert fakes.agenda.get(booked.appointment_id) == moved
    assert changes(fakes)[-1] == ("rescheduled", booked.appointment_id, 2)
