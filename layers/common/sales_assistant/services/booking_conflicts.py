"""What can stand in a booking's way: the agenda's refusals (raised by adapters/agenda.py) and the 409s the
scheduling routes answer with, each carrying what the caller needs to choose again."""

from __future__ import annotations

from sales_assistant.errors import Conflict
from sales_assistant.models.appointment import Appointment, BookingKey, Hold, Slot


class SlotTaken(Exception):
    """The agenda refused the interval: an appointment or another lead's live hold overlaps it."""


class KeyUsed(Exception):
    """The idempotency key booked another appointment meanwhile."""

    def __init__(self, key: BookingKey) -> None:
        super().__init__(key.appointment_id)
        self.key = key


class ChangedMeanwhile(Exception):
    """The appointment changed since it was read: nothing was written."""


class SlotUnavailable(Conflict):
    """409 with the free slots nearest to the one asked for."""

    code = "slot_taken"

    def __init__(self, message: str, nearest: list[Slot]) -> None:
        super().__init__(message, details={"nearest_free": slot_views(nearest)})


class LeadHasHold(Conflict):
    """409: the lead holds another slot (one live hold per lead), shown so that it can be booked."""

    code = "lead_has_hold"

    def __init__(self, hold: dict[str, object]) -> None:
        super().__init__(
            "the lead already holds a slot: book it, or hold another once it lapses", details={"hold": hold}
        )


class LeadHasAppointment(Conflict):
    """409: the lead has as many appointments to come as it may (LEAD_APPOINTMENTS_MAX), shown so that one
    can be rescheduled instead."""

    code = "lead_has_appointment"

    def __init__(self, appointments: list[Appointment]) -> None:
        super().__init__(
            "the lead already has an appointment to come: reschedule it instead",
            details={"appointments": [appointment.view() for appointment in appointments]},
        )


def slot_views(slots: list[Slot]) -> list[dict[str, str]]:
    """Slots as the API answers them (ISO 8601 with the salesperson's offset)."""
    return [{"start": slot.start.isoformat(), "end": slot.end.isoformat()} for slot in slots]


def hold_view(hold: Hold, timezone: str) -> dict[str, object]:
    """A hold as the API answers it (ISO 8601 with the salesperson's offset)."""
    slot = Slot.of(hold.start, hold.end, timezone)
    return {
        "hold_id": hold.hold_id,
        "vendor_id": hold.vendor_id,
        "lead_id": hold.lead_id,
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "expires_at": Slot.of(hold.expires_at, hold.expires_at, timezone).start.isoformat(),
    }
