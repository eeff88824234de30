"""Sending a lead's follow-ups (follow_ups.py keeps the ladder).

The proactive flow's sweep queues the follow-ups whose time came on the lead events queue (one FIFO group per
lead, so in order with the lead's status changes); each one is then checked (the lead still open and in
FOLLOW_UP_STATUS_IDS, no salesperson on the chat, no opt-out, nobody spoke since the assistant, the kill switch
off), waits for the salesperson's next opening when they are closed (holidays too: deferred, never dropped),
and goes out through the shared delivery path under the conversation's lease: written by n8n (kind
`follow_up`) inside the 24-hour window, FOLLOW_UP_TEMPLATE outside it, once per lead, ladder and attempt.
Right before sending, with the lease held, the ladder and the conversation are read again: a client message
that came while n8n was writing wins, and nothing goes out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.conversation import Conversation
from sales_assistant.models.follow_up import FollowUp
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.n8n import (
    ContactInfo,
    FollowUpInfo,
    FollowUpRequest,
    LeadInfo,
    SalespersonInfo,
    TriggerInfo,
)
from sales_assistant.models.queue import FollowUpDue
from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.observability import count
from sales_assistant.services.actions import AnswerActions
from sales_assistant.services.answers import Answer, AnswerWriter
from sales_assistant.services.budget import Budget
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped, Template, TemplateNotConfigured
from sales_assistant.services.follow_ups import FollowUpLadders
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.leases import ConversationDoor, Lease
from sales_assistant.services.ports.flows import Consent, PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.queues import FollowUpQueue
from sales_assistant.services.ports.storage import Conversations, Once, Salespeople
from sales_assistant.services.working_hours import next_opening
from sales_assistant.texts import Texts


class _Stop(Exception):
    """The ladder ends here, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FollowUpMessageConfig:
    n8n_path: str
    reply_field_id: int  # the Salesbot relay's field: never sent to n8n as lead data
    template: str = ""  # FOLLOW_UP_TEMPLATE, outside the 24-hour window (none: the ladder stops there)
    area_field: str = "Área"
    history_turns: int = 20


@dataclass(frozen=True)
class _To:
    """Who a follow-up goes to: the lead, the contact the assistant wrote to, and the conversation."""

    lead: KommoLead
    contact: KommoContact
    conversation: Conversation

    @property
    def first_name(self) -> str:
        return self.contact.name.split(" ")[0] if self.contact.name else ""


class FollowUpMessages:
    """Queues the due follow-ups and sends each one; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        ladders: FollowUpLadders,
        kommo: KommoLeads,
        salespeople: Salespeople,
        conversations: Conversations,
        door: ConversationDoor,
        delivery: Delivery,
        writer: AnswerWriter,
        actions: AnswerActions,
        takeover: PauseState,
        consent: Consent,
        notes: LeadNotes,
        queue: FollowUpQueue,
        once: Once,
        funnel: Funnel,
        texts: Texts,
        config: FollowUpMessageConfig,
        clock: Callable[[], float] = timing.now,
        budget: Budget | None = None,
    ) -> None:
        self._budget = budget
        self._funnel = funnel
        self._ladders = ladders
        self._kommo = kommo
        self._salespeople = salespeople
        self._conversations = conversations
        self._door = door
        self._delivery = delivery
        self._writer = writer
        self._actions = actions
        self._takeover = takeover
        self._consent = consent
        self._notes = notes
        self._queue = queue
        self._once = once
        self._texts = texts
        self._config = config
        self._clock = clock

    def fire_due(self) -> int:
        """The schedule's sweep: every follow-up whose time came goes to the queue; returns how many."""
        due = self._ladders.due()
        for ladder in due:
            self._queue.publish(FollowUpDue(lead_id=ladder.lead_id, anchor_at=ladder.anchor_at, attempt=ladder.attempt))
        return len(due)

    def send(self, item: FollowUpDue) -> str:
        """Send the lead's due follow-up; returns sent, deferred, stale (the ladder stopped or moved on) or
        stopped:<reason>. Raises ConversationBusy (a reply is in flight: the queue retries soon)."""
        ladder = self._ladders.get(item.lead_id)
        if ladder is None or not ladder.is_due(item.anchor_at, item.attempt, self._clock()):
            return "stale"
        try:
            lead = self._lead(ladder)
            to = _To(lead, self._contact(ladder), self._still_quiet(ladder, lead))
            opening = next_opening(self._profile(lead), self._clock())
            if opening is not None:
                self._ladders.defer(ladder, int(opening.timestamp()), "outside_hours")
                return "deferred"
            return self._deliver(ladder, to)
        except _Stop as stop:
            self._ladders.stop(ladder.lead_id, stop.reason)
            return f"stopped:{stop.reason}"

    # ------------------------------------------------------------------ what stops a ladder
    def _lead(self, ladder: FollowUp) -> KommoLead:
        """The lead as Kommo has it now, if it still takes follow-ups and the kill switch lets them out."""
        try:
            lead = self._kommo.lead(ladder.lead_id)
        except NotFound:
            raise _Stop("lead_deleted") from None
        refused = self._ladders.config.refuses(lead.status_id) or self._delivery.stops(lead.responsible_user_id)
        if not refused and self._budget:  # the monthly budget, when it holds follow-ups: the ladder ends
            refused = self._budget.stops("follow_ups", lead.id, lead.responsible_user_id, None, ladder.key)
        if refused:
            raise _Stop(refused)
        return lead

    def _contact(self, ladder: FollowUp) -> KommoContact:
        try:
            return self._kommo.contact(ladder.contact_id)
        except NotFound:
            raise _Stop("no_contact") from None

    def _still_quiet(self, ladder: FollowUp, lead: KommoLead) -> Conversation:
        """The lead's conversation, when nobody spoke since the assistant's message, no salesperson has the chat
        and the contact did not opt out; raises _Stop otherwise."""
        if any(self._takeover.is_paused(contact) for contact in {ladder.contact_id, lead.main_contact_id} if contact):
            raise _Stop("takeover")
        if not self._consent.may_contact(ladder.contact_id):
            raise _Stop("opted_out")
        conversation = self._conversations.get(f"lead:{lead.id}")
        if conversation is None:
            raise _Stop("no_conversation")
        spoke = _spoke_since(conversation, ladder.anchor_at)
        if spoke:
            raise _Stop(spoke)
        return conversation

    def _profile(self, lead: KommoLead) -> SalespersonProfile:
        """The hours the follow-up keeps: the lead's salesperson's (the defaults for one not synced yet)."""
        salesperson = self._salespeople.get(lead.responsible_user_id) if lead.responsible_user_id else None
        return salesperson.profile if salesperson else SalespersonProfile()

    # ------------------------------------------------------------------ compose and send
    def _deliver(self, ladder: FollowUp, to: _To) -> str:
        """Compose and send under the conversation's lease (given back however this ends): the ladder and the
        conversation are read again right before sending, so a reply that came meanwhile wins."""
        with self._door.visit(to.conversation.conversation_id, to.lead.id, to.contact.id, "follow-up") as visit:
            answer, outgoing = self._compose(ladder, to, visit.lease)
            self._still_quiet(ladder, to.lead)
            current = self._ladders.get(ladder.lead_id)
            if current is None or not current.is_due(ladder.anchor_at, ladder.attempt, self._clock()):
                return "stale"  # stopped meanwhile by a hook (a status change, a booking), which said why
            try:
                at = visit.delivered(outgoing, self._delivery.send(outgoing, visit.lease, []))
            except OutgoingStopped as stopped:  # switched on while n8n was writing
                raise _Stop(stopped.reason) from None
            except TemplateNotConfigured:
                raise _Stop("template_not_configured") from None
            self._ladders.sent(ladder, at)
        self._notes.note(
            ladder.key,
            to.lead.id,
            self._texts.render(
                "note_follow_up_sent", attempt=ladder.attempt, of=len(ladder.offsets), message=outgoing.described
            ),
            service=True,
        )
        if answer is not None:
            self._actions.run(answer.actions, to.lead, to.contact.id, ladder.key)
        count("FollowUpsSent", attempt=str(ladder.attempt))
        self._funnel.follow_up_sent(ladder, to.lead)
        return "sent"

    def _compose(self, ladder: FollowUp, to: _To, lease: Lease) -> tuple[Answer | None, Outgoing]:
        """n8n's follow-up inside the 24-hour window (the fallback text when n8n fails), FOLLOW_UP_TEMPLATE
        outside it; raises _Stop when nothing may go out (no template, or n8n chose not to write)."""
        lead, conversation_id = to.lead, to.conversation.conversation_id
        if not to.conversation.window_open(self._clock()):
            if not self._config.template:
                raise _Stop("window_closed")
            template = Template(self._config.template, {"nome": to.first_name} if to.first_name else {})
            return None, Outgoing(
                ladder.key,
                conversation_id,
                lead.id,
                to.contact.id,
                lead.responsible_user_id,
                template=template,
                trigger=to.conversation.trigger_kind,
            )
        answer = Answer.model_validate(
            self._once("follow-up-answer", ladder.key, lambda: self._ask(ladder, to, lease).model_dump(mode="json"))
        )
        outgoing = answer.outgoing(ladder.key, conversation_id, lead, to.contact.id, to.conversation.trigger_kind)
        if outgoing is None:  # n8n answered actions only: it decided the lead needs no more follow-ups
            self._actions.run(answer.actions, lead, to.contact.id, ladder.key)
            raise _Stop("ai_declined")
        return answer, outgoing

    def _ask(self, ladder: FollowUp, to: _To, lease: Lease) -> Answer:
        lead, contact, conversation = to.lead, to.contact, to.conversation
        salesperson = self._salespeople.get(lead.responsible_user_id) if lead.responsible_user_id else None
        request = FollowUpRequest(
            conversation_id=conversation.conversation_id,
            lead=LeadInfo.of(
                lead, area=lead.field(self._config.area_field), hidden_field_ids={self._config.reply_field_id}
            ),
            contact=ContactInfo.of(contact),
            vendor=SalespersonInfo.of(salesperson) if salesperson else None,
            history=conversation.turns[-self._config.history_turns :] if self._config.history_turns else [],
            trigger=TriggerInfo.model_validate(conversation.proactive) if conversation.proactive else None,
            window_open=True,
            follow_up=FollowUpInfo(attempt=ladder.attempt, of=len(ladder.offsets), last_message_at=ladder.anchor_at),
        )
        fallback = self._texts.render("follow_up_fallback", nome=to.first_name)
        return self._writer.ask(self._config.n8n_path, request, lease, fallback, ladder.key)


def _spoke_since(conversation: Conversation, anchor_at: int) -> str | None:
    """Who spoke after the assistant's message of `anchor_at`, as a stop reason (None: nobody did)."""
    if conversation.buffer or conversation.in_flight or conversation.last_client_message_at > anchor_at:
        return "client_replied"
    last = conversation.turns[-1] if conversation.turns else None
    if last is None or last.role == "client":
        return "client_replied"
    if last.role == "salesperson":
        return "salesperson_message"
    return None if last.delivered else "takeover"  # the assistant's reply was dropped: a salesperson took over
