"""What follows a booking, a reschedule or a cancellation, from the scheduling queue.

Each step runs once per appointment version (idempotency records, the delivery log) and on its own: a
step that fails (n8n down, Kommo slow, the conversation busy) fails the queue message after the others
ran, and the retry runs only what is left. Steps: a note on the lead; for the appointment's latest
version the appointment to n8n (kind `scheduling`); for the latest version of a live appointment its
meeting task for the salesperson (one per appointment: created once, then moved with each reschedule),
the reminders (EventBridge Scheduler) and the client's confirmation through the shared delivery path;
and for a cancellation, the meeting task completed and the reminders removed.

Consent: a reminder is the assistant writing first, so a contact who opted out gets none (counted in
`RemindersSkipped` by reason, and one note per appointment on the lead, not one per reminder); the
confirmation answers the client's own request for the meeting, so it goes whatever the consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.appointment import Appointment, Slot
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.n8n import AppointmentInfo, ContactInfo, LeadInfo, SalespersonInfo, SchedulingRequest
from sales_assistant.models.queue import AppointmentChanged, AppointmentReminderDue
from sales_assistant.models.salesperson import Salesperson
from sales_assistant.observability import count, logger
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped, Template, TemplateNotConfigured
from sales_assistant.services.leases import ConversationDoor
from sales_assistant.services.meeting_tasks import MeetingTasks, appointment_values
from sales_assistant.services.ports.flows import Consent, FollowUpLadder, PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.n8n import AgendaForwarder, AiFailure
from sales_assistant.services.ports.storage import Agenda, Conversations, Once, Reminders, Salespeople
from sales_assistant.texts import Texts


class FollowUpsFailed(Exception):
    """Some steps failed (named, without personal data): the queue retries the message."""


@dataclass(frozen=True)
class FollowUpConfig:
    n8n_path: str
    confirmation_template: str = ""
    reminder_template: str = ""


class AppointmentFollowUps:
    """The scheduling queue's consumer logic; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        agenda: Agenda,
        salespeople: Salespeople,
        kommo: KommoLeads,
        meeting_tasks: MeetingTasks,
        notes: LeadNotes,
        n8n: AgendaForwarder,
        reminders: Reminders,
        delivery: Delivery,
        door: ConversationDoor,
        conversations: Conversations,
        takeover: PauseState,
        consent: Consent,
        follow_ups: FollowUpLadder,
        once: Once,
        texts: Texts,
        config: FollowUpConfig,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._follow_ups = follow_ups
        self._agenda = agenda
        self._salespeople = salespeople
        self._kommo = kommo
        self._meeting_tasks = meeting_tasks
        self._notes = notes
        self._n8n = n8n
        self._reminders = reminders
        self._delivery = delivery
        self._door = door
        self._conversations = conversations
        self._takeover = takeover
        self._consent = consent
        self._once = once
        self._texts = texts
        self._config = config
        self._clock = clock

    def changed(self, item: AppointmentChanged) -> str:
        """Run the follow-ups of one change; returns "done" or raises FollowUpsFailed."""
        appointment = item.appointment
        key = f"{appointment.appointment_id}:{appointment.version}"
        current = self._agenda.get(appointment.appointment_id)
        latest = current is None or current.version <= appointment.version
        salesperson = self._salespeople.get(appointment.vendor_id)
        try:
            lead = self._kommo.lead(appointment.lead_id)
        except NotFound:
            lead = None  # a lead deleted in Kommo: n8n still learns of the appointment
        contact = self._contact(appointment)
        steps: list[tuple[str, Callable[[], object]]] = []
        if latest:  # n8n's agenda keeps the last write: an older change retried late must not overwrite a newer one
            forward = partial(self._forward, item, salesperson, lead, contact)
            steps.append(("n8n", lambda: self._once("appointment-n8n", key, forward)))
        if lead is not None:
            steps.append(("note", lambda: self._note(item, salesperson, key)))
        if item.change == "cancelled":
            steps += [
                ("task", lambda: self._meeting_tasks.complete(appointment, key)),
                ("reminders", lambda: self._reminders.remove(appointment.appointment_id)),
            ]
        elif latest and lead is not None:
            steps += [
                ("follow-ups", lambda: self._follow_ups.stop(lead.id, "booked")),
                ("task", lambda: self._meeting_tasks.keep(appointment, lead.id, key)),
                ("reminders", lambda: self._once("appointment-reminders", key, lambda: self._set_reminders(item))),
                (
                    "confirmation",
                    lambda: self._tell_client(appointment, salesperson, lead, contact, "confirmation", key),
                ),
            ]
        return _run(steps, appointment.appointment_id)

    def remind(self, item: AppointmentReminderDue) -> str:
        """A reminder's schedule fired: remind the client unless the appointment moved or was cancelled."""
        appointment = self._agenda.get(item.appointment_id)
        if appointment is None or appointment.status != "booked" or appointment.version != item.version:
            count("RemindersSkipped", reason="stale")
            return "stale"
        try:
            lead = self._kommo.lead(appointment.lead_id)
        except NotFound:
            return "lead_deleted"
        contact = self._contact(appointment)
        if contact is not None and not self._consent.may_contact(contact.id):
            count("RemindersSkipped", reason="opted_out")
            text = self._texts.render("note_reminder_opted_out", **appointment_values(appointment, None))
            self._notes.note(f"reminder-opted-out:{appointment.appointment_id}", lead.id, text, service=True)
            return "opted_out"
        key = f"{appointment.appointment_id}:{appointment.version}:{item.minutes_before}"
        salesperson = self._salespeople.get(appointment.vendor_id)
        return self._tell_client(appointment, salesperson, lead, contact, "reminder", key)

    # ------------------------------------------------------------------ steps
    def _forward(
        self,
        item: AppointmentChanged,
        salesperson: Salesperson | None,
        lead: KommoLead | None,
        contact: KommoContact | None,
    ) -> dict[str, bool]:
        appointment = item.appointment
        slot = Slot.of(appointment.start, appointment.end, appointment.timezone)
        contact_info = ContactInfo(id=contact.id, name=contact.name, phone=contact.phone) if contact else None
        request = SchedulingRequest(
            conversation_id=f"lead:{appointment.lead_id}",
            lead=LeadInfo.of(lead, area="", hidden_field_ids=set()) if lead else LeadInfo(id=appointment.lead_id),
            contact=contact_info or ContactInfo(id=appointment.contact_id or 0),
            vendor=SalespersonInfo(id=salesperson.vendor_id, name=salesperson.name, areas=salesperson.profile.areas)
            if salesperson
            else None,
            window_open=self._window_open(appointment.lead_id),
            appointment=AppointmentInfo(
                id=appointment.appointment_id,
                vendor_id=appointment.vendor_id,
                lead_id=appointment.lead_id,
                contact=contact_info,
                start=slot.start.isoformat(),
                end=slot.end.isoformat(),
                status=item.change,
                agenda_table=(salesperson.profile.agenda_table if salesperson else "")
                or f"agenda_{appointment.vendor_id}",
            ),
        )
        try:
            self._n8n.deliver(self._config.n8n_path, request)
        except AiFailure as failure:
            count("SchedulingForwardFailed", reason=failure.reason)
            raise
        return {"stored": True}

    def _note(self, item: AppointmentChanged, salesperson: Salesperson | None, key: str) -> None:
        appointment = item.appointment
        text = self._texts.render(f"note_appointment_{item.change}", **appointment_values(appointment, salesperson))
        self._notes.note(f"appointment:{key}", appointment.lead_id, text, service=True)

    def _set_reminders(self, item: AppointmentChanged) -> dict[str, list[int]]:
        return {"due": self._reminders.set(item.appointment, int(self._clock()))}

    def _tell_client(
        self,
        appointment: Appointment,
        salesperson: Salesperson | None,
        lead: KommoLead,
        contact: KommoContact | None,
        what: str,
        key: str,
    ) -> str:
        """The confirmation or a reminder, once per key, through the shared delivery path (a template outside
        the 24-hour window; without one configured, a task for the salesperson)."""
        if contact is None:
            return "no_contact"
        send = partial(self._send, appointment, salesperson, lead, contact, what, key)
        return str(self._once(f"appointment-{what}", key, lambda: {"outcome": send()})["outcome"])

    def _send(
        self,
        appointment: Appointment,
        salesperson: Salesperson | None,
        lead: KommoLead,
        contact: KommoContact,
        what: str,
        key: str,
    ) -> str:
        values = {
            **appointment_values(appointment, salesperson),
            "nome": contact.name.split(" ")[0] if contact.name else "",
        }
        template_name = getattr(self._config, f"{what}_template")
        outgoing_key = f"appointment-{what}:{key}"
        if any(self._takeover.is_paused(paused) for paused in {contact.id, lead.main_contact_id} if paused):
            return self._ask_salesperson(appointment, lead, outgoing_key, "task_appointment_salesperson_has_chat")
        conversation_id = f"lead:{lead.id}"
        if self._window_open(lead.id):
            message = Outgoing(
                outgoing_key,
                conversation_id,
                lead.id,
                contact.id,
                appointment.vendor_id,
                text=self._texts.render(f"appointment_{what}", **values),
            )
        elif template_name:
            params = {name: str(values[name]) for name in ("nome", "data", "hora")}
            template = Template(template_name, params, category="utility")  # WhatsApp bills a confirmation as utility
            message = Outgoing(
                outgoing_key, conversation_id, lead.id, contact.id, appointment.vendor_id, template=template
            )
        else:
            return self._ask_salesperson(appointment, lead, outgoing_key, "task_appointment_unconfirmed")
        try:
            self._door.deliver(self._delivery, message, f"appointment-{what}")
        except OutgoingStopped as stopped:
            return f"held:{stopped.reason}"
        except TemplateNotConfigured:
            return self._ask_salesperson(appointment, lead, outgoing_key, "task_appointment_unconfirmed")
        count("AppointmentMessagesSent", kind=what)
        return "sent"

    def _ask_salesperson(self, appointment: Appointment, lead: KommoLead, key: str, text_name: str) -> str:
        """The client is told by a person: a task for the salesperson, with why."""
        text = self._texts.render(text_name, **appointment_values(appointment, None))
        self._notes.task(f"unconfirmed:{key}", lead.id, appointment.vendor_id, text)
        return "task"

    # ------------------------------------------------------------------ helpers
    def _contact(self, appointment: Appointment) -> KommoContact | None:
        if not appointment.contact_id:
            return None
        try:
            return self._kommo.contact(appointment.contact_id)
        except NotFound:
            return None

    def _window_open(self, lead_id: int) -> bool:
        conversation = self._conversations.get(f"lead:{lead_id}")
        return conversation is not None and conversation.window_open(self._clock())


def _run(steps: list[tuple[str, Callable[[], object]]], appointment_id: str) -> str:
    """Run every step; the failed ones are named in FollowUpsFailed (the queue retries them)."""
    failed = []
    for name, step in steps:
        try:
            step()
        except Exception as error:
            failed.append(name)
            logger.warning(
                "appointment follow-up failed",
                extra={"appointment_id": appointment_id, "step": name, "error": type(error).__name__},
            )
    if failed:
        raise FollowUpsFailed(f"appointment {appointment_id}: {', '.join(failed)} failed")
    return "done"
