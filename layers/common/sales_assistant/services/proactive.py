"""Proactive outreach (scenario 1): a lead filled a form, downloaded material or asked for a meeting, and
the responsible salesperson's assistant writes first on WhatsApp.

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
from typing import Any

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.conversation import Conversation
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.n8n import ContactInfo, LeadInfo, N8nRequest, TriggerInfo, VendorInfo
from sales_assistant.models.queue import TriggerDue
from sales_assistant.models.trigger import (
    LOST,
    WON,
    Trigger,
    TriggerKind,
    TriggerRequest,
    TriggerRule,
    trigger_id,
    trigger_kind,
)
from sales_assistant.models.vendor import Vendor
from sales_assistant.observability import count, logger, measure
from sales_assistant.services.actions import AnswerActions, LeadChanges
from sales_assistant.services.conversation import Answer, answer_from
from sales_assistant.services.delivery import (
    ConversationBusy,
    ConversationDoor,
    Delivery,
    Lease,
    LeaseLost,
    Outgoing,
    OutgoingStopped,
    Template,
    TemplateNotConfigured,
)
from sales_assistant.services.ports.kommo import KommoLeads, KommoUsers, LeadNotes
from sales_assistant.services.ports.n8n import AiFailure, AiWriter
from sales_assistant.services.ports.queues import FlushScheduler, TriggerQueue
from sales_assistant.services.ports.storage import Conversations, Once, RoundRobin, Salespeople, Triggers
from sales_assistant.services.takeover import TakeoverService
from sales_assistant.services.working_hours import next_opening
from sales_assistant.texts import Texts


class _Skip(Exception):
    def __init__(self, reason: str, lead: KommoLead | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lead = lead


@dataclass(frozen=True)
class ProactiveConfig:
    n8n_path: str
    reply_field_id: int
    min_gap_seconds: int
    lease_seconds: int
    rules: tuple[TriggerRule, ...] = ()
    area_field_id: int | None = None
    reassign: bool = False
    test_lead_tag: str = "teste"
    cooldown_seconds: int = 24 * 3600
    fallback_template: str = ""


class ProactiveOutreach:
    """The proactive flow's domain logic; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        kommo: KommoLeads,
        users: KommoUsers,
        triggers: Triggers,
        vendors: Salespeople,
        round_robin: RoundRobin,
        conversations: Conversations,
        takeover: TakeoverService,
        ai: AiWriter,
        delivery: Delivery,
        actions: AnswerActions,
        lead_changes: LeadChanges,
        notes: LeadNotes,
        flushes: FlushScheduler,
        queue: TriggerQueue,
        once: Once,
        texts: Texts,
        config: ProactiveConfig,
        lease_seconds: Callable[[], float] | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._kommo = kommo
        self._users = users
        self._triggers = triggers
        self._vendors = vendors
        self._round_robin = round_robin
        self._conversations = conversations
        self._takeover = takeover
        self._ai = ai
        self._delivery = delivery
        self._actions = actions
        self._lead_changes = lead_changes
        self._notes = notes
        self._queue = queue
        self._once = once
        self._texts = texts
        self._config = config
        self._clock = clock
        self._door = ConversationDoor(
            conversations,
            flushes,
            lease_seconds or (lambda: float(config.lease_seconds)),
            config.min_gap_seconds,
            clock,
        )

    # ------------------------------------------------------------------ the two doors
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
            if request.data:  # the later trigger's data goes to the conversation n8n sees
                self._conversations.set_context(f"lead:{trigger.lead_id}", _context(trigger), now)
            count("TriggersRepeated")
            return "repeated"
        if trigger.status == "deferred" and request.source != "sweep":
            return "deferred"  # its data was added; the sweep sends it when the hours open
        try:
            return self._first_message(trigger, now)
        except _Skip as skip:
            self._triggers.update(trigger.trigger_id, "skipped", reason=skip.reason)
            count("ProactiveSkipped", reason=skip.reason)
            logger.info("first message not sent", extra={"lead_id": trigger.lead_id, "reason": skip.reason})
            if skip.lead is not None:
                reason = self._texts.render(f"skip_{skip.reason}")
                self._notes.note(
                    f"proactive-skipped:{trigger.trigger_id}",
                    skip.lead.id,
                    self._texts.render(
                        "note_proactive_skipped", trigger=self._trigger_name(trigger.kind), reason=reason
                    ),
                    service=True,
                )
            return f"skipped:{skip.reason}"

    def fire_due(self) -> int:
        """The schedule's sweep: deferred triggers whose salesperson's hours opened go to the queue (those the
        kill switch holds wait for the next sweep)."""
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
        lead = self._lead(trigger.lead_id)
        contact = self._contact(lead)
        vendor, routing = self._routed(trigger, lead)
        held = self._delivery.stops(vendor.vendor_id)
        if held:
            return self._defer(trigger, vendor, routing, now, held)
        opening = next_opening(vendor.profile, now)
        if opening is not None:
            return self._defer(trigger, vendor, routing, int(opening.timestamp()), "outside_hours")
        conversation_id = f"lead:{lead.id}"
        conversation = self._conversations.get(conversation_id)
        if (
            conversation
            and conversation.proactive_at
            and now - conversation.proactive_at < self._config.cooldown_seconds
        ):
            raise _Skip("recently_contacted", lead)
        answer: Answer | None = None
        outgoing: Outgoing | None = None
        try:
            with self._door.visit(conversation_id, lead.id, contact.id, "proactive") as visit:
                conversation = self._conversations.get(conversation_id) or conversation
                window_open = conversation is not None and conversation.window_open(now)
                answer = Answer.model_validate(
                    self._once(
                        "proactive-answer",
                        trigger.trigger_id,
                        lambda: self._answer(
                            trigger, lead, contact, vendor, routing, conversation, window_open, visit.lease
                        ).model_dump(mode="json"),
                    )
                )
                outgoing = answer.outgoing(trigger.trigger_id, conversation_id, lead, contact.id)
                if outgoing is None or (outgoing.template is None and not window_open):
                    outgoing = self._fallback(trigger, lead, contact, window_open)
                if self._takeover.is_paused(contact.id):
                    raise _Skip("paused", lead)
                delivered_at = visit.delivered(outgoing, self._delivery.send(outgoing, visit.lease, []))
        except OutgoingStopped as stopped:  # switched on while n8n was writing: held, sent when switched off
            return self._defer(trigger, vendor, routing, now, stopped.reason)
        except TemplateNotConfigured:
            template = outgoing.template.name if outgoing and outgoing.template else "-"
            self._notes.task(
                f"proactive-template:{trigger.trigger_id}",
                lead.id,
                vendor.vendor_id,
                self._texts.render("task_template_needed", template=template),
            )
            if answer is not None:
                self._actions.run(answer.actions, lead, contact.id, trigger.trigger_id)
            raise _Skip("template_not_configured", lead) from None
        self._conversations.set_context(conversation_id, _context(trigger, routing, delivered_at), now)
        self._triggers.update(trigger.trigger_id, "sent", sent_at=delivered_at, vendor_id=vendor.vendor_id)
        self._notes.note(
            f"proactive:{trigger.trigger_id}",
            lead.id,
            self._texts.render(
                "note_proactive_sent",
                trigger=self._trigger_name(trigger.kind),
                salesperson=vendor.name or str(vendor.vendor_id),
                routing=self._texts.render(f"route_{routing}"),
                message=outgoing.described,
            ),
            service=True,
        )
        self._actions.run(answer.actions, lead, contact.id, trigger.trigger_id)
        count("ProactiveMessagesSent", kind=trigger.kind)
        if trigger.lead_created_at:
            measure("SpeedToLead", max(delivered_at - trigger.lead_created_at, 0))
        return "sent"

    def _defer(self, trigger: Trigger, vendor: Vendor, routing: str, due_at: int, reason: str) -> str:
        """Keep the trigger, with its salesperson, for the sweep: outside the salesperson's hours until they
        open, under the kill switch until it is turned off (a deferred trigger is never dropped)."""
        self._triggers.update(
            trigger.trigger_id, "deferred", due_at=due_at, vendor_id=vendor.vendor_id, routing=routing, reason=reason
        )
        count("ProactiveDeferred", reason=reason)
        logger.info("first message deferred", extra={"lead_id": trigger.lead_id, "due_at": due_at, "reason": reason})
        if reason != "outside_hours":  # the salesperson learns why a new lead has not been contacted yet
            self._notes.note(
                f"proactive-held:{trigger.trigger_id}",
                trigger.lead_id,
                self._texts.render(
                    "note_proactive_held",
                    trigger=self._trigger_name(trigger.kind),
                    reason=self._texts.render(f"skip_{reason}"),
                ),
                service=True,
            )
        return "deferred"

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
        return contact

    # ------------------------------------------------------------------ the salesperson
    def _routed(self, trigger: Trigger, lead: KommoLead) -> tuple[Vendor, str]:
        """The salesperson who writes, decided once per lead: the one stored on the trigger (routed before
        it was deferred or retried) while still active, else one routing for the lead whichever of Kommo's
        events for it (`leads[add]`, `unsorted[add]`, a POST /triggers) comes first; a second one running at
        the same moment waits for the first (the queue retries it)."""
        if trigger.vendor_id is not None:
            stored = self._salesperson(trigger.vendor_id)
            if stored is not None and stored.active:
                return stored, trigger.routing or "responsible"
        decision = self._once("route", f"{lead.id}:{lead.responsible_user_id or 0}", lambda: self._decision(lead))
        vendor, routing = self._salesperson(int(decision["vendor_id"])), str(decision["routing"])
        if vendor is None or not vendor.active:  # the one chosen earlier has left since: choose again
            vendor, routing = self._route(lead)
        self._triggers.update(trigger.trigger_id, trigger.status, vendor_id=vendor.vendor_id, routing=routing)
        return vendor, routing

    def _decision(self, lead: KommoLead) -> dict[str, Any]:
        """The routing as the once-store keeps it."""
        vendor, routing = self._route(lead)
        return {"vendor_id": vendor.vendor_id, "routing": routing}

    def _route(self, lead: KommoLead) -> tuple[Vendor, str]:
        """The salesperson who writes, and why: the responsible one, or the next of the area in turn."""
        area = self._area(lead)
        test_lead = self._config.test_lead_tag.casefold() in {tag.name.casefold() for tag in lead.embedded.tags}
        responsible = self._salesperson(lead.responsible_user_id)
        problem = self._why_not(responsible, area, test_lead)
        if responsible is not None and problem is None:
            return responsible, "responsible"
        candidates = sorted(
            (
                vendor
                for vendor in self._vendors.all()
                if vendor.active and vendor.profile.is_test == test_lead and _serves(vendor, area)
            ),
            key=lambda vendor: vendor.vendor_id,
        )
        if not candidates:
            if responsible is not None and responsible.active:
                return responsible, "no_one_in_area"
            raise _Skip("no_salesperson", lead)
        chosen = candidates[
            (self._round_robin.turn(f"{area or '*'}|{'test' if test_lead else 'real'}") - 1) % len(candidates)
        ]
        if self._config.reassign and chosen.vendor_id != lead.responsible_user_id:
            self._lead_changes.change(lead.id, responsible_user_id=chosen.vendor_id)
            count("LeadsReassigned", reason=problem or "no_one_in_area")
        return chosen, problem or "no_one_in_area"

    def _salesperson(self, vendor_id: int | None) -> Vendor | None:
        """The cached salesperson; on a miss, that one user is fetched from Kommo and cached."""
        if not vendor_id:
            return None
        vendor = self._vendors.get(vendor_id)
        if vendor is None:
            try:
                self._vendors.save_from_kommo(self._users.user(vendor_id), int(self._clock()))
            except NotFound:
                return None
            vendor = self._vendors.get(vendor_id)
        return vendor

    def _why_not(self, vendor: Vendor | None, area: str, test_lead: bool) -> str | None:
        if vendor is None:
            return "responsible_unknown"
        if not vendor.active:
            return "responsible_inactive"
        if vendor.profile.is_test and not test_lead:
            return "test_user_for_real_lead"
        if not _serves(vendor, area):
            return "area_mismatch"
        return None

    def _area(self, lead: KommoLead) -> str:
        if self._config.area_field_id is None:
            return ""
        return next(
            (
                field.first_value()
                for field in lead.custom_fields_values or []
                if field.field_id == self._config.area_field_id
            ),
            "",
        )

    # ------------------------------------------------------------------ n8n and the conversation
    def _answer(
        self,
        trigger: Trigger,
        lead: KommoLead,
        contact: KommoContact,
        vendor: Vendor,
        routing: str,
        conversation: Conversation | None,
        window_open: bool,
        lease: Lease,
    ) -> Answer:
        request = N8nRequest(
            kind="proactive",
            conversation_id=f"lead:{lead.id}",
            lead=LeadInfo.of(lead, area=self._area(lead), hidden_field_ids={self._config.reply_field_id}),
            contact=ContactInfo(id=contact.id, name=contact.name, phone=contact.phone),
            vendor=VendorInfo(id=vendor.vendor_id, name=vendor.name, areas=vendor.profile.areas),
            history=conversation.turns[-20:] if conversation else [],
            trigger=TriggerInfo(kind=trigger.kind, data=trigger.data, routing=routing),
            window_open=window_open,
        )
        lease.renew()
        try:
            response = self._ai.ask(self._config.n8n_path, request)
        except AiFailure as failure:
            count("N8nFallbacks", reason=failure.reason)
            return Answer(reply=None, fallback_reason=failure.reason)
        return answer_from(response, window_open)

    def _fallback(self, trigger: Trigger, lead: KommoLead, contact: KommoContact, window_open: bool) -> Outgoing:
        """The configured first message when n8n gave none that can be sent."""
        first_name = contact.name.split(" ")[0] if contact.name else ""
        key, conversation_id = trigger.trigger_id, f"lead:{lead.id}"
        count("ProactiveFallbacks")
        if window_open:
            text = self._texts.render("proactive_fallback", nome=first_name)
            return Outgoing(key, conversation_id, lead.id, contact.id, lead.responsible_user_id, text=text)
        if self._config.fallback_template:
            template = Template(self._config.fallback_template, {"nome": first_name} if first_name else {})
            return Outgoing(key, conversation_id, lead.id, contact.id, lead.responsible_user_id, template=template)
        raise TemplateNotConfigured("no fallback template for a first message outside the 24-hour window")

    def _trigger_name(self, kind: TriggerKind) -> str:
        return self._texts.render(f"trigger_{kind}")


def _serves(vendor: Vendor, area: str) -> bool:
    return not area or area.casefold() in {served.casefold() for served in vendor.profile.areas}


def _context(trigger: Trigger, routing: str = "", sent_at: int | None = None) -> dict[str, Any]:
    """What the conversation keeps of its trigger, for n8n when the client answers."""
    context: dict[str, Any] = {"kind": trigger.kind, "data": trigger.data}
    if routing:
        context["routing"] = routing
    if sent_at:
        context["sent_at"] = sent_at
    return context


__all__ = ["ConversationBusy", "LeaseLost", "ProactiveConfig", "ProactiveOutreach"]
