"""Scheduling: a salesperson's availability, holds, and appointments booked, cancelled and rescheduled.

n8n's AI agent calls it through the scheduling routes (its tools), the reactive flow when n8n answers a
`schedule` action. Every change is one DynamoDB transaction (adapters/agenda.py); what follows a change
(n8n, Kommo task and note, the client's confirmation, reminders) runs from the scheduling queue
(services/appointment_followups.py), so none of it can hold up or undo a booking.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sales_assistant import timing
from sales_assistant.errors import Conflict, NotFound, Unprocessable
from sales_assistant.models.appointment import (
    Appointment,
    BookingKey,
    BookingRequest,
    Hold,
    HoldRequest,
    LeadAppointments,
    RescheduleRequest,
)
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.queue import AppointmentChanged
from sales_assistant.models.salesperson import MAX_BOOKED_MINUTES, Salesperson
from sales_assistant.observability import count, logger
from sales_assistant.services.availability import (
    GRAIN_SECONDS,
    NEAREST_WINDOW_DAYS,
    Interval,
    Unbookable,
    bookable,
    free_slots,
    nearest_free,
)
from sales_assistant.services.booking_conflicts import (
    ChangedMeanwhile,
    KeyUsed,
    LeadHasAppointment,
    LeadHasHold,
    SlotTaken,
    SlotUnavailable,
    hold_view,
    slot_views,
)
from sales_assistant.services.idempotency_keys import ensure_same_request
from sales_assistant.services.ports.kommo import KommoLeads
from sales_assistant.services.ports.queues import AppointmentEvents
from sales_assistant.services.ports.storage import Agenda, Salespeople

DEFAULT_DAYS = 7
MAX_DAYS = 31
CHANGE_ATTEMPTS = 3


class SchedulingService:
    """Availability, holds and appointments; every collaborator comes in as a port. A lead holds one slot
    at a time and has at most `lead_appointments_max` appointments to come."""

    def __init__(
        self,
        *,
        agenda: Agenda,
        salespeople: Salespeople,
        kommo: KommoLeads,
        events: AppointmentEvents,
        hold_minutes: int,
        lead_appointments_max: int = 1,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._agenda = agenda
        self._salespeople = salespeople
        self._kommo = kommo
        self._events = events
        self._hold_seconds = hold_minutes * 60
        self._lead_appointments_max = lead_appointments_max
        self._clock = clock

    # ------------------------------------------------------------------ reading
    def availability(
        self, vendor_id: int, start: datetime | None, end: datetime | None, lead_id: int | None = None
    ) -> dict[str, object]:
        """The salesperson's free slots between `start` (default now) and `end` (default a week later);
        a lead's own holds show as free to that lead."""
        salesperson = self._salesperson(vendor_id)
        now = int(self._clock())
        begin = int(start.timestamp()) if start else now
        until = int(end.timestamp()) if end else begin + DEFAULT_DAYS * 86400
        if until <= begin:
            raise Unprocessable("to must be after from", code="invalid_range")
        if until - begin > MAX_DAYS * 86400:
            raise Unprocessable(f"at most {MAX_DAYS} days at a time", code="invalid_range")
        busy = self._busy(vendor_id, begin, until, now, lead_id)
        slots = free_slots(salesperson.profile, begin, until, now, busy)
        return {"vendor_id": vendor_id, "timezone": salesperson.profile.timezone, "slots": slot_views(slots)}

    def get(self, appointment_id: str) -> Appointment:
        appointment = self._agenda.get(appointment_id)
        if appointment is None:
            raise NotFound(f"no appointment {appointment_id}", code="unknown_appointment")
        return appointment

    # ------------------------------------------------------------------ changing
    def hold(self, request: HoldRequest) -> dict[str, object]:
        """Keep a slot for a lead a few minutes: other leads are not offered it and cannot book it. A lead
        holds one slot at a time: another while it is live is refused (the same slot again gets the same
        hold), so that one client cannot keep a salesperson's day from everyone else."""
        salesperson = self._salesperson(request.vendor_id)
        now = int(self._clock())
        interval = self._bookable(salesperson, request.start, now)
        self._upcoming(request.lead_id, now)
        latest = self._agenda.lead_hold(request.lead_id)
        if latest is not None and latest.expires_at >= now:
            if (latest.vendor_id, latest.start) == (salesperson.vendor_id, interval.start):
                return hold_view(latest, salesperson.profile.timezone)
            holder = self._salespeople.get(latest.vendor_id) or salesperson
            raise LeadHasHold(hold_view(latest, holder.profile.timezone))
        hold = Hold(
            hold_id=f"hold-{uuid.uuid4().hex[:16]}",
            vendor_id=salesperson.vendor_id,
            lead_id=request.lead_id,
            start=interval.start,
            end=interval.end,
            occupied_until=interval.occupied_until,
            expires_at=now + self._hold_seconds,
        )
        try:
            self._agenda.add_hold(hold, now, previous=latest)
        except SlotTaken:
            raise self._taken(salesperson, interval.start, now, request.lead_id) from None
        except ChangedMeanwhile:
            raise Conflict("the lead held another slot meanwhile", code="lead_has_hold") from None
        count("SlotsHeld")
        return hold_view(hold, salesperson.profile.timezone)

    def book(self, request: BookingRequest) -> Appointment:
        """Book a slot for a lead (its hold, if any, becomes the appointment). The same idempotency key
        books once: a repeat gets that appointment back as it is now (moved, maybe), or books anew once it
        was cancelled; the key with another start (neither the first nor the current one) is refused. A
        lead with `lead_appointments_max` appointments to come gets them back in a 409 instead."""
        used = self._agenda.booked_with(request.idempotency_key) if request.idempotency_key else None
        if used:
            earlier = self._booked_before(used, request)
            if earlier.status == "booked":
                return self._repeat(earlier)
        salesperson = self._salesperson(request.vendor_id)
        now = int(self._clock())
        held = self._held(request, now)
        interval = self._bookable(salesperson, request.start, now, held=held)
        busy = self._busy(salesperson.vendor_id, interval.start, interval.occupied_until, now, request.lead_id)
        if not busy.isdisjoint(interval.grains):  # taken: answer without asking Kommo (the transaction decides races)
            raise self._taken(salesperson, interval.start, now, request.lead_id)
        upcoming = self._upcoming(request.lead_id, now)
        lead = self._lead(request.lead_id)
        appointment = Appointment(
            appointment_id=f"apt-{salesperson.vendor_id}-{uuid.uuid4().hex[:12]}",
            vendor_id=salesperson.vendor_id,
            lead_id=lead.id,
            contact_id=lead.main_contact_id,
            start=interval.start,
            end=interval.end,
            occupied_until=interval.occupied_until,
            timezone=salesperson.profile.timezone,
            created_at=now,
            updated_at=now,
            idempotency_key=request.idempotency_key,
        )
        try:
            replacing = used.appointment_id if used else None
            self._agenda.book(appointment, now, replacing=replacing, lead=upcoming, hold_booked=held)
        except KeyUsed as meanwhile:  # the same key booked by a request running at the same time
            return self._repeat(self._booked_before(meanwhile.key, request))
        except SlotTaken:
            raise self._taken(salesperson, interval.start, now, request.lead_id) from None
        except ChangedMeanwhile:  # the lead booked another slot at the same moment
            raise Conflict("the lead's appointments changed meanwhile; try again", code="changed_meanwhile") from None
        self._publish("booked", appointment)
        count("AppointmentsBooked")
        logger.info("appointment booked", extra={"appointment_id": appointment.appointment_id, "lead_id": lead.id})
        return appointment

    def cancel(self, appointment_id: str) -> Appointment:
        """Cancel an appointment and free its slot (cancelling a cancelled one changes nothing)."""
        for _ in range(CHANGE_ATTEMPTS):
            appointment = self.get(appointment_id)
            if appointment.status != "booked":  # cancelled, or a no-show (its time is past): nothing to free
                return appointment
            cancelled = appointment.next_version(int(self._clock()), status="cancelled")
            try:
                self._agenda.cancel(appointment, cancelled)
            except ChangedMeanwhile:
                continue
            self._publish("cancelled", cancelled)
            count("AppointmentsCancelled")
            return cancelled
        raise Conflict("the appointment kept changing; try again", code="changed_meanwhile")

    def reschedule(self, appointment_id: str, request: RescheduleRequest) -> Appointment:
        """Move an appointment: the new slot booked and the old one freed in one transaction, or nothing
        changes."""
        appointment = self.get(appointment_id)
        if appointment.status != "booked":  # cancelled, or no_show (`/faltou`): its 409 says which
            raise Conflict(f"the appointment is {appointment.status}: book a new one", code=appointment.status)
        salesperson = self._salesperson(appointment.vendor_id)
        now = int(self._clock())
        interval = self._bookable(salesperson, request.start, now)
        if interval.start == appointment.start:
            return appointment
        moved = appointment.next_version(
            now,
            start=interval.start,
            end=interval.end,
            occupied_until=interval.occupied_until,
            previous_start=appointment.start,
        )
        try:
            self._agenda.move(appointment, moved, now)
        except SlotTaken:
            raise self._taken(salesperson, interval.start, now, appointment.lead_id) from None
        except ChangedMeanwhile:
            raise Conflict(
                "the appointment changed meanwhile; read it and try again", code="changed_meanwhile"
            ) from None
        self._publish("rescheduled", moved)
        count("AppointmentsRescheduled")
        return moved

    # ------------------------------------------------------------------ helpers
    def _salesperson(self, vendor_id: int) -> Salesperson:
        salesperson = self._salespeople.get(vendor_id)
        if salesperson is None:
            raise NotFound(f"salesperson {vendor_id} is unknown (run POST /vendors/sync?)", code="unknown_vendor")
        if not salesperson.active:
            raise Unprocessable(f"salesperson {vendor_id} is no longer active", code="vendor_inactive")
        return salesperson

    def _lead(self, lead_id: int) -> KommoLead:
        try:
            return self._kommo.lead(lead_id)
        except NotFound:
            raise NotFound(f"lead {lead_id} does not exist in Kommo", code="unknown_lead") from None

    def _upcoming(self, lead_id: int, now: int) -> LeadAppointments:
        """The lead's appointments still to come (LeadHasAppointment when it may have no more)."""
        recorded = self._agenda.lead_appointments(lead_id)
        upcoming = [
            appointment
            for appointment in map(self._agenda.get, recorded.appointment_ids)
            if appointment is not None and appointment.status == "booked" and appointment.end > now
        ]
        if len(upcoming) >= self._lead_appointments_max:
            raise LeadHasAppointment(upcoming)
        return recorded.model_copy(update={"appointment_ids": [item.appointment_id for item in upcoming]})

    def _held(self, request: BookingRequest, now: int) -> bool:
        """Whether the request's hold keeps its slot for it now: then the notice, checked when the slot
        was held, is not checked again (the notice edge moves on while the client confirms)."""
        hold = self._agenda.hold(request.hold_id) if request.hold_id else None
        if hold is None:
            return False
        if (hold.lead_id, hold.vendor_id) != (request.lead_id, request.vendor_id):
            raise Conflict("the hold belongs to another lead or salesperson", code="hold_mismatch")
        return hold.start == int(request.start.timestamp()) and hold.expires_at >= now

    def _bookable(self, salesperson: Salesperson, start: datetime, now: int, held: bool = False) -> Interval:
        try:
            return bookable(salesperson.profile, start, now, held=held)
        except Unbookable as refused:
            raise Unprocessable(refused.message, code=refused.code) from None

    def _busy(self, vendor_id: int, start: int, end: int, now: int, lead_id: int | None) -> set[int]:
        return self._agenda.busy(vendor_id, start - GRAIN_SECONDS, end + MAX_BOOKED_MINUTES * 60, now, lead_id)

    def _taken(self, salesperson: Salesperson, start: int, now: int, lead_id: int) -> SlotUnavailable:
        count("SlotTaken")
        window = NEAREST_WINDOW_DAYS * 86400
        busy = self._busy(salesperson.vendor_id, start - window, start + window, now, lead_id)
        return SlotUnavailable("the slot is taken", nearest_free(salesperson.profile, start, now, busy))

    def _booked_before(self, key: BookingKey, request: BookingRequest) -> Appointment:
        """The appointment the key booked, when the request asks for its first start or its current one."""
        appointment = self.get(key.appointment_id)
        booked = [(appointment.vendor_id, appointment.lead_id, start) for start in (key.start, appointment.start)]
        ensure_same_request((request.vendor_id, request.lead_id, int(request.start.timestamp())), *booked)
        return appointment

    def _repeat(self, appointment: Appointment) -> Appointment:
        """The appointment a repeated idempotency key booked; its follow-ups are queued again (each runs
        once), so a booking whose first answer was lost before they were queued still gets them."""
        if appointment.version == 1:
            self._publish("booked", appointment)
        count("AppointmentsRepeated")
        return appointment

    def _publish(self, change: str, appointment: Appointment) -> None:
        self._events.publish(AppointmentChanged.model_validate({"change": change, "appointment": appointment}))
