"""Scheduling records and the bodies of the scheduling routes: slots, holds, appointments.

Times are ISO 8601 with an offset at the edges (an offset-less time is refused: it would be ambiguous)
and unix seconds inside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, ConfigDict, Field

from sales_assistant.models import KommoId, Model

AppointmentStatus = Literal["booked", "cancelled", "no_show"]  # no_show: the client missed it (`/faltou`)


class _Body(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldRequest(_Body):
    """POST /holds: keep a slot for a lead a few minutes while the client confirms."""

    vendor_id: KommoId
    lead_id: KommoId
    start: AwareDatetime


class BookingRequest(_Body):
    """POST /appointments."""

    vendor_id: KommoId
    lead_id: KommoId
    start: AwareDatetime
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    hold_id: str | None = Field(None, min_length=1, max_length=64)


class RescheduleRequest(_Body):
    """POST /appointments/{id}/reschedule."""

    start: AwareDatetime


class Slot(Model):
    """A free (or held, or booked) interval of a salesperson's agenda, in their timezone."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: int, end: int, timezone: str) -> Slot:
        zone = ZoneInfo(timezone)
        return cls(start=datetime.fromtimestamp(start, zone), end=datetime.fromtimestamp(end, zone))


class Hold(Model):
    """A slot kept for one lead until `expires_at`."""

    hold_id: str
    vendor_id: int
    lead_id: int
    start: int
    end: int
    occupied_until: int  # end plus the salesperson's buffer
    expires_at: int


class BookingKey(Model):
    """What a client's idempotency key booked: the appointment, and the start the key asked for (`None`
    for a key recorded before starts were kept)."""

    appointment_id: str
    start: int | None = None


class LeadAppointments(Model):
    """The appointments booked for a lead, oldest first, and the record's version (0: none recorded yet):
    the scheduling service lets a lead have at most LEAD_APPOINTMENTS_MAX of them still to come."""

    lead_id: int
    appointment_ids: list[str] = []
    version: int = 0


class Appointment(Model):
    """A meeting of a salesperson with a lead; `version` grows with every change (reschedule, cancel)."""

    model_config = ConfigDict(extra="ignore")

    appointment_id: str
    vendor_id: int
    lead_id: int
    contact_id: int | None = None
    start: int
    end: int
    occupied_until: int
    timezone: str
    status: AppointmentStatus = "booked"
    version: int = 1
    created_at: int
    updated_at: int
    idempotency_key: str | None = None
    previous_start: int | None = None

    def next_version(self, updated_at: int, **changes: object) -> Appointment:
        """This appointment with `changes` applied and its version counted up."""
        return self.model_copy(update={**changes, "version": self.version + 1, "updated_at": updated_at})

    def view(self) -> dict[str, object]:
        """The appointment as the API answers it (ISO 8601 with the salesperson's offset)."""
        slot = Slot.of(self.start, self.end, self.timezone)
        return {
            "id": self.appointment_id,
            "vendor_id": self.vendor_id,
            "lead_id": self.lead_id,
            "contact_id": self.contact_id,
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "timezone": self.timezone,
            "status": self.status,
            "version": self.version,
        }
