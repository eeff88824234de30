"""A meeting held: its time has passed and the salesperson did not mark it missed (`/faltou`) within the no-show
grace period after its end (NO_SHOW_GRACE_HOURS).

The appointment's `over` schedule (adapters/reminders.py, set with its reminders, moved with a reschedule,
removed with a cancellation) puts an `appointment_over` item on the scheduling queue at end + grace. If the
appointment is still booked in that version, the meeting counts `meeting_held` in the funnel, once per
appointment. Whether a meeting was held is decided once per appointment (an idempotency record): by that item,
or by a `/faltou` that comes first (not held). A `/faltou` after the meeting counted held takes the count back
(`meeting_held` -1, once per appointment) beside its `meeting_no_show`, so the report stays right.
"""

from __future__ import annotations

from sales_assistant.models.appointment import Appointment
from sales_assistant.models.queue import AppointmentOverDue
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.ports.storage import Agenda, Once

HELD = "meeting-held"  # the idempotency scope of the decision, per appointment id


def decide_held(once: Once, appointment_id: str, held: bool) -> bool:
    """Whether the meeting was held: the first decision for the appointment stands, whoever made it."""
    return bool(once(HELD, appointment_id, lambda: {"held": held})["held"])


class MeetingsHeld:
    """The scheduling queue's `appointment_over` items; every collaborator comes in as a port."""

    def __init__(self, *, agenda: Agenda, once: Once, funnel: Funnel) -> None:
        self._agenda = agenda
        self._once = once
        self._funnel = funnel

    def over(self, item: AppointmentOverDue) -> str:
        """The grace period after the meeting is over: "held" (counted once), "stale" (moved, cancelled or marked
        missed since) or "missed" (a `/faltou` decided first)."""
        appointment = self._agenda.get(item.appointment_id)
        if appointment is None or appointment.status != "booked" or appointment.version != item.version:
            return "stale"
        if not decide_held(self._once, appointment.appointment_id, held=True):
            return "missed"
        self._funnel.meeting("meeting_held", appointment)
        return "held"


def not_held(once: Once, funnel: Funnel, appointment: Appointment) -> None:
    """`/faltou` on the meeting: not held, and if it was counted held already, that count is taken back."""
    if decide_held(once, appointment.appointment_id, held=False):
        funnel.meeting_not_held(appointment)
