"""A no-show: the salesperson marks that the client missed the meeting (`/faltou [id]`, in the lead's chat or in a
note on it) and the assistant offers the client new slots, once per appointment.

The lead's latest meeting whose start has passed (not cancelled) is the one marked. The client's offer is decided
and sent once per appointment (an idempotency record), then the appointment is recorded `no_show`
(Agenda.cancel: the record replaced only if unchanged since read, its past time freed): a command retried after
the offer went out records the mark without a second offer; a later `/faltou` finds it marked and sends nothing.
The offer names the first free slot of each of the salesperson's next open days (SLOTS_OFFERED of them) as free
text inside the 24-hour window, or NO_SHOW_TEMPLATE (nome, data, hora of the missed meeting) outside it, through
the shared delivery path under the conversation's lease. No offer when the contact opted out, a salesperson has
the chat (the assistant never talks over a human), no slot is free, or the window is closed without a template:
the salesperson is told why. The answer to the salesperson is one note on the lead per command.
A meeting marked missed is never counted held; one counted held already (its grace period over) is taken back
(services/meetings_held.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast

from sales_assistant import timing
from sales_assistant.errors import AppError, Conflict, NotFound
from sales_assistant.models.appointment import Appointment
from sales_assistant.models.kommo import KommoLead
from sales_assistant.observability import count, logger
from sales_assistant.services.booking_conflicts import ChangedMeanwhile
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped, Template, TemplateNotConfigured
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.handover import when_in_words
from sales_assistant.services.leases import ConversationDoor
from sales_assistant.services.meeting_tasks import appointment_values
from sales_assistant.services.meetings_held import not_held
from sales_assistant.services.ports.flows import Consent, PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.storage import Agenda, Conversations, Once, Salespeople
from sales_assistant.services.scheduling import SchedulingService
from sales_assistant.texts import Texts

SLOTS_OFFERED = 3
MARK_ATTEMPTS = 3
MARKED, ALREADY_MARKED, NO_PAST_MEETING = "no_show_marked", "no_show_already_marked", "no_past_meeting"
_OFFERED = {"sent": "note_no_show_offered", "template": "note_no_show_template"}  # the offer's outcome -> the note


class NoShows:
    """Marks missed meetings and offers new slots; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        agenda: Agenda,
        scheduling: SchedulingService,
        salespeople: Salespeople,
        kommo: KommoLeads,
        consent: Consent,
        takeover: PauseState,
        conversations: Conversations,
        door: ConversationDoor,
        delivery: Delivery,
        notes: LeadNotes,
        once: Once,
        funnel: Funnel,
        texts: Texts,
        template: str = "",
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._agenda = agenda
        self._scheduling = scheduling
        self._salespeople = salespeople
        self._kommo = kommo
        self._consent = consent
        self._takeover = takeover
        self._conversations = conversations
        self._door = door
        self._delivery = delivery
        self._notes = notes
        self._once = once
        self._funnel = funnel
        self._texts = texts
        self._template = template
        self._clock = clock

    def mark(self, lead_id: int | None, who: str, key: str) -> str:
        """`/faltou` on a lead (`key`: the command's message or note): its latest past meeting marked no-show and
        the client offered new slots once; the salesperson's answer is a note on the lead. Returns the outcome."""
        missed = self._latest_past(lead_id) if lead_id is not None else None
        if lead_id is None or missed is None:
            self._answer(lead_id, key, "note_no_show_none")
            return NO_PAST_MEETING
        values = appointment_values(missed, self._salespeople.get(missed.vendor_id))
        if missed.status == "no_show":
            self._answer(lead_id, key, "note_no_show_already", **values)
            return ALREADY_MARKED
        offer = self._once("no-show-offer", missed.appointment_id, lambda: self._offer(missed, values))
        self._record(missed)
        self._funnel.meeting("meeting_no_show", missed)
        not_held(self._once, self._funnel, missed)
        outcome = str(offer["outcome"])
        count("NoShowsMarked", offer=outcome)
        logger.info("no-show marked", extra={"appointment_id": missed.appointment_id, "offer": outcome})
        if outcome in _OFFERED:
            self._answer(
                lead_id, key, _OFFERED[outcome], who=who, horarios=offer["slots"], modelo=self._template, **values
            )
        else:
            reason = self._texts.render(f"no_show_reason_{outcome}", modelo=self._template)
            self._answer(lead_id, key, "note_no_show_not_offered", who=who, motivo=reason, **values)
        return MARKED

    def _latest_past(self, lead_id: int) -> Appointment | None:
        """The lead's meeting (booked or already marked) that started last before now."""
        now = self._clock()
        recorded = map(self._agenda.get, self._agenda.lead_appointments(lead_id).appointment_ids)
        past = [item for item in recorded if item is not None and item.status != "cancelled" and item.start <= now]
        return max(past, key=lambda item: item.start, default=None)

    def _offer(self, missed: Appointment, values: dict[str, object]) -> dict[str, Any]:
        """New slots offered to the client, or why not ({"outcome": ..., "slots": ...})."""
        try:
            lead = self._kommo.lead(missed.lead_id)
            contact_id = missed.contact_id or lead.main_contact_id
            contact = self._kommo.contact(contact_id) if contact_id else None
        except NotFound:
            contact = None
        if contact is None:
            return {"outcome": "no_contact"}
        if not self._consent.may_contact(contact.id):
            return {"outcome": "opted_out"}
        if any(self._takeover.is_paused(paused) for paused in {contact.id, lead.main_contact_id} if paused):
            return {"outcome": "salesperson_has_chat"}
        slots = self._slots(missed)
        if not slots:
            return {"outcome": "no_slots"}
        first_name = contact.name.split(" ")[0] if contact.name else ""
        message = self._message(missed, lead, contact.id, {**values, "nome": first_name, "horarios": slots})
        if message is None:
            return {"outcome": "window_closed"}
        try:
            self._door.deliver(self._delivery, message, "no-show-offer")
        except OutgoingStopped:
            return {"outcome": "stopped"}
        except TemplateNotConfigured:
            return {"outcome": "template_not_configured"}
        return {"outcome": "template" if message.template else "sent", "slots": slots}

    def _slots(self, missed: Appointment) -> str:
        """The first free slot of each of the salesperson's next open days, in the client's words, one a line."""
        try:
            views = self._scheduling.availability(missed.vendor_id, None, None, missed.lead_id)["slots"]
        except AppError:  # the salesperson unknown or no longer active: nobody to meet
            return ""
        firsts: dict[date, datetime] = {}
        for view in cast(list[dict[str, str]], views):
            start = datetime.fromisoformat(view["start"])
            firsts.setdefault(start.date(), start)
        words = [
            when_in_words(start, datetime.fromtimestamp(self._clock(), start.tzinfo), self._texts)
            for start in list(firsts.values())[:SLOTS_OFFERED]
        ]
        return "\n".join(f"• {slot}" for slot in words)

    def _message(
        self, missed: Appointment, lead: KommoLead, contact_id: int, values: dict[str, object]
    ) -> Outgoing | None:
        """Free text inside the 24-hour window, the template outside it (None: no template configured)."""
        key, conversation_id = f"no-show-offer:{missed.appointment_id}", f"lead:{lead.id}"
        conversation = self._conversations.get(conversation_id)
        if conversation is not None and conversation.window_open(self._clock()):
            text = self._texts.render("no_show_offer", **values)
            return Outgoing(key, conversation_id, lead.id, contact_id, missed.vendor_id, text=text)
        if not self._template:
            return None
        template = Template(self._template, {name: str(values[name]) for name in ("nome", "data", "hora")})
        return Outgoing(key, conversation_id, lead.id, contact_id, missed.vendor_id, template=template)

    def _record(self, missed: Appointment) -> None:
        """The appointment recorded `no_show`, unless it changed meanwhile into something else (moved ahead,
        cancelled, marked by another command)."""
        for _ in range(MARK_ATTEMPTS):
            current = self._agenda.get(missed.appointment_id)
            if current is None or current.status != "booked" or current.start > self._clock():
                return
            try:
                self._agenda.cancel(current, current.next_version(int(self._clock()), status="no_show"))
            except ChangedMeanwhile:
                continue
            return
        raise Conflict(f"appointment {missed.appointment_id} kept changing", code="changed_meanwhile")

    def _answer(self, lead_id: int | None, key: str, text_name: str, **values: object) -> None:
        """The salesperson's answer, once per command (a replayed command writes nothing new)."""
        if lead_id is not None:
            self._notes.note(f"no-show:{key}", lead_id, self._texts.render(text_name, **values))
