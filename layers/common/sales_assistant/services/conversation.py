"""The reactive flow: a client writes on WhatsApp, the AI (n8n) answers through Kommo, once, in order.

1. `receive`: each client message is added to its conversation's buffer (once per Kommo message id)
   and a flush job is scheduled after the quiet window.
2. `flush`, one job per batch: collect (the buffer, under the conversation's lease: reply_batches.py)
   -> ask n8n once for the whole batch (answers.py) -> act (n8n's actions) -> deliver one reply through
   the Salesbot relay (delivery.py) -> record (the exchange noted on the lead, the turns kept, the lease
   released, the next batch scheduled if one formed). The bot state is checked before asking n8n and
   again right before sending: a human who took over in between wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.conversation import KommoSnapshot
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import ContactInfo, LeadInfo, N8nRequest, SalespersonInfo, TriggerInfo, Turn
from sales_assistant.observability import count, logger, mask_phone, mask_text
from sales_assistant.services.actions import AnswerActions
from sales_assistant.services.answers import Answer, AnswerWriter, client_message
from sales_assistant.services.budget import Budget
from sales_assistant.services.consent import ConsentService, Heard
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped, TemplateNotConfigured
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.leases import LeaseLost
from sales_assistant.services.ports.flows import FollowUpLadder, PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.queues import FlushScheduler
from sales_assistant.services.ports.storage import Conversations, Once, Salespeople
from sales_assistant.services.reply_batches import Batch, ReplyBatches
from sales_assistant.texts import Texts


@dataclass(frozen=True)
class ReactiveConfig:
    quiet_seconds: int
    history_turns: int
    reply_field_id: int  # the Salesbot relay's field: never sent to n8n as lead data
    n8n_path: str
    area_field: str = "Área"
    kommo_cache_seconds: int = 0  # how long a batch's lead and contact serve the next batches (0: never)


class ReactiveConversations:
    """The reactive flow's domain logic; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        conversations: Conversations,
        batches: ReplyBatches,
        takeover: PauseState,
        kommo: KommoLeads,
        notes: LeadNotes,
        salespeople: Salespeople,
        writer: AnswerWriter,
        flushes: FlushScheduler,
        delivery: Delivery,
        actions: AnswerActions,
        follow_ups: FollowUpLadder,
        once: Once,
        consent: ConsentService,
        funnel: Funnel,
        texts: Texts,
        config: ReactiveConfig,
        clock: Callable[[], float] = timing.now,
        budget: Budget | None = None,
    ) -> None:
        self._budget = budget
        self._funnel = funnel
        self._conversations = conversations
        self._batches = batches
        self._takeover = takeover
        self._kommo = kommo
        self._notes = notes
        self._salespeople = salespeople
        self._writer = writer
        self._flushes = flushes
        self._delivery = delivery
        self._actions = actions
        self._follow_ups = follow_ups
        self._once = once
        self._consent = consent
        self._texts = texts
        self._config = config
        self._clock = clock

    # ------------------------------------------------------------------ step 1: buffer
    def receive(self, message: ChatMessage) -> int:
        """Buffer a client message (once per Kommo message id) and schedule its flush; returns its seq."""
        now = int(self._clock())
        result = self._once("buffer", message.id, lambda: {"seq": self._conversations.append(message, now)})
        count("ClientMessagesIn")
        self._follow_ups.stop(message.lead_id, "client_replied")
        self._flushes.flush_later(message.conversation_id, int(result["seq"]), self._config.quiet_seconds)
        return int(result["seq"])

    # ------------------------------------------------------------------ step 2: answer a batch
    def flush(self, conversation_id: str, seq: int, job_id: str) -> str:
        """Answer the conversation's buffer if this job is the latest and nothing is in flight; returns
        the outcome (answered, fallback, paused, superseded, busy, waiting_gap, nothing, no_lead, ...)."""
        batch = self._batches.collect(conversation_id, seq, job_id)
        if isinstance(batch, str):
            return batch
        try:
            return self._answer(batch)
        except LeaseLost:  # another job took the conversation over: it answers; this one sent nothing
            count("LeasesLost")
            logger.warning("conversation lease lost: nothing sent", extra={"conversation": conversation_id})
            return "lease_lost"

    def _answer(self, batch: Batch) -> str:
        """Collect -> ask n8n -> act -> deliver -> record, or end the batch without a reply, saying why."""
        if not batch.messages:  # the job that lost the lease was already answering all of it
            self._batches.record(batch, [], delivered_at=None)
            return "already_answered"
        # an opt-out (or opt-in) is recorded whatever comes next: paused, switched off, no lead
        heard = self._consent.hear(batch.contact_id, batch.conversation.lead_id, batch.messages)
        known = self._who_writes(batch)
        if isinstance(known, str):
            return self._without_reply(batch, [], known)
        lead, contact = known.lead, known.contact
        self._funnel.client_wrote(lead, batch.conversation, heard)
        if heard is Heard.STILL_OUT:  # the client repeated an opt-out they were sent a confirmation for
            self._note_unanswered(lead.id, batch.key, "opted_out")
            return self._without_reply(batch, [], "opted_out")
        try:  # the kill switch: nothing is asked of n8n, the messages stay in history, no replay later
            self._delivery.check_allowed(lead.responsible_user_id)
            if self._budget:  # the monthly budget, when it holds replies
                self._budget.check(
                    "replies", lead.id, lead.responsible_user_id, batch.conversation.trigger_kind, batch.key
                )
        except OutgoingStopped as stopped:
            self._note_unanswered(lead.id, batch.key, stopped.reason)
            return self._without_reply(batch, [], stopped.reason)
        # Once per batch: a retried job (Kommo failed after n8n answered) reuses the answer instead of
        # asking n8n again, so what is delivered, noted and recorded is one and the same text.
        answer = Answer.model_validate(
            self._once("answer", batch.key, lambda: self._ask(batch, lead, contact, heard).model_dump(mode="json"))
        )
        conversation = batch.conversation
        outgoing = answer.outgoing(
            batch.key, conversation.conversation_id, lead, batch.contact_id, conversation.trigger_kind
        )
        if outgoing is None:
            self._actions.run(answer.actions, lead, batch.contact_id, batch.key)
            self._batches.record(batch, batch.client_turns, delivered_at=None)
            return "no_reply"
        return self._deliver(batch, lead, answer, outgoing)

    def _deliver(self, batch: Batch, lead: KommoLead, answer: Answer, outgoing: Outgoing) -> str:
        """Send the reply unless a human took over meanwhile; the switch or a missing template stops it."""
        if self._takeover.is_paused(batch.contact_id):  # a human took over while n8n was thinking
            count("RepliesDroppedTakeover")
            self._notes.note(
                f"dropped:{batch.key}", lead.id, self._texts.render("note_reply_dropped", reply=outgoing.described)
            )
            return self._without_reply(batch, [self._undelivered(outgoing)], "dropped_takeover", counted=False)
        try:
            delivered_at = self._delivery.send(outgoing, batch.lease, [message.id for message in batch.messages])
        except OutgoingStopped as stopped:  # switched on while n8n was thinking
            self._note_unanswered(lead.id, batch.key, stopped.reason)
            return self._without_reply(batch, [self._undelivered(outgoing)], stopped.reason, counted=False)
        except TemplateNotConfigured:  # the window is closed and no Salesbot can send this template
            name = outgoing.template.name if outgoing.template else "-"
            self._actions.task(lead, f"template:{batch.key}", "task_template_needed", template=name)
            self._actions.run(answer.actions, lead, batch.contact_id, batch.key)
            return self._without_reply(batch, [], "template_not_configured", counted=False)
        self._record(batch, lead, answer, outgoing, delivered_at)
        return "fallback" if answer.fallback_reason else "answered"

    def _record(self, batch: Batch, lead: KommoLead, answer: Answer, outgoing: Outgoing, delivered_at: int) -> None:
        """The exchange noted on the lead, n8n's actions run, the turns kept."""
        logger.info(
            "reply delivered",
            extra={
                "conversation": batch.conversation.conversation_id,
                "messages": len(batch.messages),
                "reply": mask_text(outgoing.described),
            },
        )
        client_text = "\n".join(turn.text for turn in batch.client_turns)
        self._notes.note(
            f"exchange:{batch.key}",
            lead.id,
            self._texts.render("note_exchange", client=client_text, reply=outgoing.described),
        )
        if answer.fallback_reason:
            self._actions.task(lead, f"fallback:{batch.key}", "task_fallback", reason=answer.fallback_reason)
        else:  # after the fallback text a person answers: no follow-up
            self._follow_ups.start(lead, batch.contact_id, delivered_at, batch.conversation.trigger_kind)
        self._actions.run(answer.actions, lead, batch.contact_id, batch.key)
        reply_turn = Turn(role="assistant", text=outgoing.described, at=delivered_at)
        self._batches.record(batch, [*batch.client_turns, reply_turn], delivered_at=delivered_at)

    def _undelivered(self, outgoing: Outgoing) -> Turn:
        return Turn(role="assistant", text=outgoing.described, at=int(self._clock()), delivered=False)

    def _note_unanswered(self, lead_id: int, key: str, reason: str) -> None:
        """Tell the salesperson on the lead that the client's messages wait for them, and why (once per batch)."""
        why = self._texts.render(f"skip_{reason}")
        self._notes.note(f"stopped:{key}", lead_id, self._texts.render("note_reply_stopped", reason=why))

    def _without_reply(self, batch: Batch, extra_turns: list[Turn], outcome: str, *, counted: bool = True) -> str:
        """End the batch without a delivered reply: the client's messages (and any undelivered reply) stay in
        the history."""
        if counted:
            count("RepliesSkipped", reason=outcome)
        self._batches.record(batch, [*batch.client_turns, *extra_turns], delivered_at=None)
        return outcome

    # ------------------------------------------------------------------ who writes, and what n8n is asked
    def _who_writes(self, batch: Batch) -> KommoSnapshot | str:
        """The conversation's lead and the writing contact, when the bot may answer them; else why not
        (paused: a salesperson has the contact or the lead's main contact)."""
        if self._takeover.is_paused(batch.contact_id):
            return "paused"
        known = self._lead_and_contact(batch)
        if isinstance(known, str):
            return known
        main_contact = known.lead.main_contact_id
        if main_contact not in (None, batch.contact_id) and self._takeover.is_paused(main_contact):
            return "paused"
        return known

    def _lead_and_contact(self, batch: Batch) -> KommoSnapshot | str:
        """The conversation's lead and the writing contact: kept from the last batch when still fresh (no
        Kommo call), else read from Kommo and kept. Or why there is no one to answer: a chat without a lead
        or a lead deleted in Kommo (the Salesbot relay needs a lead), a contact not linked to the lead (a
        forged or odd body must not reach another lead), a contact deleted or merged."""
        conversation, contact_id = batch.conversation, batch.contact_id
        now = int(self._clock())
        kept = conversation.snapshot_for(contact_id, now, self._config.kommo_cache_seconds)
        if kept is not None:
            count("KommoReadsSaved", 2)
            return kept
        if conversation.lead_id is None:
            return "no_lead"
        batch.lease.renew()
        try:
            lead = self._kommo.lead(conversation.lead_id)
        except NotFound:
            return "no_lead"
        if contact_id not in {linked.id for linked in lead.embedded.contacts}:
            logger.warning("the message's contact is not linked to the lead", extra={"lead_id": lead.id})
            return "contact_not_on_lead"
        batch.lease.renew()
        try:
            contact = self._kommo.contact(contact_id)
        except NotFound:
            return "no_contact"
        snapshot = KommoSnapshot(lead=lead, contact=contact, at=now)
        if self._config.kommo_cache_seconds:
            self._conversations.remember_kommo(conversation.conversation_id, snapshot)
        return snapshot

    def _ask(self, batch: Batch, lead: KommoLead, contact: KommoContact, heard: Heard) -> Answer:
        if heard.confirmation:  # an opt-out or opt-in is confirmed by the service itself, not by n8n
            return Answer(reply=self._texts.render(heard.confirmation))
        if not any(message.has_content for message in batch.messages):
            count("UnreadableMessages")
            return Answer(reply=self._texts.render("unreadable_reply"))
        logger.debug("asking n8n", extra={"contact_phone": mask_phone(contact.phone), "messages": len(batch.messages)})
        request = self._request(batch, lead, contact)
        answer = self._writer.ask(
            self._config.n8n_path, request, batch.lease, self._texts.render("fallback_reply"), batch.key
        )
        if not answer.fallback_reason:
            count("BatchesSentToN8n")
        return answer

    def _request(self, batch: Batch, lead: KommoLead, contact: KommoContact) -> N8nRequest:
        conversation = batch.conversation
        salesperson = self._salespeople.get(lead.responsible_user_id) if lead.responsible_user_id else None
        history = conversation.turns[-self._config.history_turns :] if self._config.history_turns else []
        return N8nRequest(
            kind="reply",
            conversation_id=conversation.conversation_id,
            lead=LeadInfo.of(
                lead, area=lead.field(self._config.area_field), hidden_field_ids={self._config.reply_field_id}
            ),
            contact=ContactInfo(id=contact.id, name=contact.name, phone=contact.phone),
            vendor=SalespersonInfo(id=salesperson.vendor_id, name=salesperson.name, areas=salesperson.profile.areas)
            if salesperson
            else None,
            messages=[client_message(message) for message in batch.messages],
            history=history,
            trigger=TriggerInfo.model_validate(conversation.proactive) if conversation.proactive else None,
            window_open=conversation.window_open(self._clock()),
            qualification=self._actions.qualification_fields(),
        )
