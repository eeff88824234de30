"""Proactive outreach (scenario 1): a lead filled a form, downloaded material or asked for a meeting, and
the responsible salesperson's assistant writes first on WhatsApp. A first message goes: route (routing.py)
-> defer (outside the salesperson's hours, or under the kill switch) -> compose (first_messages.py) -> send
(the conversation's door, delivery.py) -> record (the trigger, a note on the lead, n8n's actions).

One trigger per lead and kind: a repeat (Kommo's retry, the lead-added webhook and a POST /triggers
for the same lead, a trigger posted twice) adds its data to the conversation and sends nothing more.
The salesperson is the lead's responsible one when they serve the lead's area; otherwise the next
active salesperson of the area, in turn (a round-robin pointer in DynamoDB, fair across Lambdas;
test salespeople only take test leads). Outside the salesperson's hours the trigger waits for the
next opening. The message goes out through the one delivery path the reactive flow uses, under the
conversation's lease, so a first message and a reply to the same lead never race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.queue import TriggerDue
from sales_assistant.models.trigger import (
    LOST,
    WON,
    Trigger,
    TriggerRequest,
    TriggerRule,
    trigger_id,
    trigger_kind,
)
from sales_assistant.observability import count
from sales_assistant.services.actions import AnswerActions
from sales_assistant.services.answers import Answer
from sales_assistant.services.budget import Budget
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped, TemplateNotConfigured
from sales_assistant.services.first_messages import Addressee, FirstMessageComposer
from sales_assistant.services.leases import ConversationDoor
from sales_assistant.services.ports.flows import Consent, PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.queues import TriggerQueue
from sales_assistant.services.ports.storage import Conversations, Triggers
from sales_assistant.services.routing import NoSalesperson, SalespersonRouter
from sales_assistant.services.trigger_outcomes import TriggerOutcomes
from sales_assistant.services.working_hours import next_opening
from sales_assistant.texts import Texts


class _Skip(Exception):
    def __init__(self, reason: str, lead: KommoLead | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lead = lead


@dataclass(frozen=True)
class ProactiveConfig:
    rules: tuple[TriggerRule, ...] = ()
    cooldown_seconds: int = 24 * 3600  # a lead contacted this recently is not written to again


class ProactiveOutreach:
    """The proactive flow's domain logic; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        kommo: KommoLeads,
        triggers: Triggers,
        router: SalespersonRouter,
        composer: FirstMessageComposer,
        conversations: Conversations,
        door: ConversationDoor,
        takeover: PauseState,
        consent: Consent,
        delivery: Delivery,
        actions: AnswerActions,
        notes: LeadNotes,
        outcomes: TriggerOutcomes,
        queue: TriggerQueue,
        texts: Texts,
        config: ProactiveConfig,
        clock: Callable[[], float] = timing.now,
        budget: Budget | None = None,
    ) -> None:
        self._budget = budget
        self._kommo = kommo
        self._triggers = triggers
        self._router = router
        self._composer = composer
        self._conversations = conversations
        self._door = door
        self._takeover = takeover
        self._consent = consent
        self._delivery = delivery
        self._actions = actions
        self._notes = notes
        self._outcomes = outcomes
        self._queue = queue
        self._texts = texts
        self._config = config
        self._clock = clock

    # ------------------------------------------------------------------ the doors
    def accept(self, request: TriggerRequest) -> str:
        """POST /triggers: queue a trigger for a lead Kommo knows (NotFound otherwise); returns its id."""
        self._kommo.lead(request.lead_id)
        self._queue.publish(
            TriggerDue(
                lead_id=request.lead_id,
                trigger=request.trigger,
                data=request.data,
                source="api",
                lead_created_at=int(self._clock()),
            )
        )
        count("TriggersReceived", source="api")
        return trigger_id(request.lead_id, request.trigger)

    def from_new_lead(self, lead_id: int, source: str, lead_created_at: int | None) -> str:
        """A lead Kommo reported as added (or an unsorted lead): a trigger if a rule says so."""
        try:
            lead = self._kommo.lead(lead_id)
        except NotFound:
            count("TriggersIgnored", reason="lead_deleted")
            return "ignored"
        kind = trigger_kind(list(self._config.rules), lead, source)
        if kind is None:
            count("TriggersIgnored", reason="no_rule")
            return "ignored"
        count("TriggersReceived", source="webhook")
        request = TriggerDue(lead_id=lead_id, trigger=kind, source="webhook", lead_created_at=lead_created_at)
        return self.handle(request)

    def handle(self, request: TriggerDue) -> str:
        """Give a lead its first message for this trigger, once; returns the outcome (sent, deferred,
        repeated, skipped:<reason>)."""
        now = int(self._clock())
        trigger, created = self._triggers.register(request, now)
        if not created and trigger.status in ("sent", "skipped"):
            return self._outcomes.repeated(trigger, with_data=bool(request.data))
        if trigger.status == "deferred" and request.source != "sweep":
            return "deferred"  # its data was added; the sweep sends it when the hours open
        try:
            return self._first_message(trigger, now)
        except _Skip as skip:
            return self._outcomes.skipped(trigger, skip.reason, skip.lead)

    def fire_due(self) -> int:
        """The schedule's sweep: deferred triggers whose salesperson's hours opened go to the queue (those the
        kill switch holds wait for the next sweep; all of them while the monthly budget holds first messages)."""
        if self._budget and self._budget.reached("first_messages"):
            return 0
        due = [
            trigger
            for trigger in self._triggers.with_status("deferred", due_before=int(self._clock()))
            if not self._delivery.stops(trigger.vendor_id)
        ]
        for trigger in due:
            self._queue.publish(
                TriggerDue(
                    lead_id=trigger.lead_id,
                    trigger=trigger.kind,
                    source="sweep",
                    lead_created_at=trigger.lead_created_at,
                )
            )
        return len(due)

    def deferred(self) -> list[Trigger]:
        """Triggers waiting for their salesperson's hours."""
        return self._triggers.with_status("deferred")

    # ------------------------------------------------------------------ the first message
    def _first_message(self, trigger: Trigger, now: int) -> str:
        """Route -> defer -> compose and send -> record; raises _Skip when the lead gets no first message."""
        lead = self._lead(trigger.lead_id)
        contact = self._contact(lead)
        try:
            salesperson, routing = self._router.route(trigger, lead)
        except NoSalesperson:
            raise _Skip("no_salesperson", lead) from None
        held = self._delivery.stops(salesperson.vendor_id) or (
            self._budget.stops("first_messages", lead.id, salesperson.vendor_id, trigger.kind, trigger.trigger_id)
            if self._budget
            else None
        )  # the monthly budget parks it like the kill switch: sent by the sweep once the budget allows
        opening = None if held else next_opening(salesperson.profile, now)
        if held or opening is not None:
            due_at = int(opening.timestamp()) if opening is not None else now
            return self._outcomes.deferred(trigger, salesperson, routing, due_at, held or "outside_hours")
        self._check_cooldown(lead, now)
        to = Addressee(lead, contact, salesperson, routing, self._router.area(lead))
        try:
            answer, outgoing, delivered_at = self._send(trigger, to)
        except OutgoingStopped as stopped:  # switched on while n8n was writing: held, sent when switched off
            return self._outcomes.deferred(trigger, salesperson, routing, now, stopped.reason)
        return self._outcomes.sent(trigger, to, answer, outgoing, delivered_at)

    def _send(self, trigger: Trigger, to: Addressee) -> tuple[Answer, Outgoing, int]:
        """Compose and deliver under the conversation's lease (given back however this ends)."""
        lead = to.lead
        conversation_id = f"lead:{lead.id}"
        with self._door.visit(conversation_id, lead.id, to.contact.id, "proactive") as visit:
            conversation = self._conversations.get(conversation_id)
            answer, outgoing = self._composer.compose(trigger, to, conversation, visit.lease)
            if outgoing is None:
                self._template_missing(trigger, to, answer, "-")
            if self._takeover.is_paused(to.contact.id):
                raise _Skip("paused", lead)
            try:
                return answer, outgoing, visit.delivered(outgoing, self._delivery.send(outgoing, visit.lease, []))
            except TemplateNotConfigured:
                self._template_missing(trigger, to, answer, outgoing.template.name if outgoing.template else "-")

    def _template_missing(self, trigger: Trigger, to: Addressee, answer: Answer, template: str) -> NoReturn:
        """No Salesbot can send the template the first message needs: a task for the salesperson, n8n's
        actions run, and the trigger skipped."""
        self._notes.task(
            f"proactive-template:{trigger.trigger_id}",
            to.lead.id,
            to.salesperson.vendor_id,
            self._texts.render("task_template_needed", template=template),
        )
        self._actions.run(answer.actions, to.lead, to.contact.id, trigger.trigger_id)
        raise _Skip("template_not_configured", to.lead)

    def _check_cooldown(self, lead: KommoLead, now: int) -> None:
        conversation = self._conversations.get(f"lead:{lead.id}")
        if (
            conversation
            and conversation.proactive_at
            and now - conversation.proactive_at < self._config.cooldown_seconds
        ):
            raise _Skip("recently_contacted", lead)

    def _lead(self, lead_id: int) -> KommoLead:
        try:
            lead = self._kommo.lead(lead_id)
        except NotFound:
            raise _Skip("lead_deleted") from None
        if lead.status_id in (WON, LOST):
            raise _Skip("lead_closed", lead)
        return lead

    def _contact(self, lead: KommoLead) -> KommoContact:
        if lead.main_contact_id is None:
            raise _Skip("no_phone", lead)
        try:
            contact = self._kommo.contact(lead.main_contact_id)
        except NotFound:
            raise _Skip("no_phone", lead) from None
        if not contact.phone:
            raise _Skip("no_phone", lead)
        if self._takeover.is_paused(contact.id):
            raise _Skip("paused", lead)
        if not self._consent.may_contact(contact.id):  # the client opted out: never written to first
            raise _Skip("opted_out", lead)
        return contact
