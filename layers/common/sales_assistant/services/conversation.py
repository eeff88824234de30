"""The reactive flow: a client writes on WhatsApp, the AI (n8n) answers through Kommo, once, in order.

1. `receive`: each client message is added to its conversation's buffer (once per Kommo message id)
   and a flush job is scheduled after the quiet window.
2. `flush`: the job that finds no newer message claims the buffer under a lease (one batch in flight
   per conversation; messages arriving meanwhile form the next batch), asks n8n once for the whole
   batch, delivers one reply through the Salesbot relay, notes the exchange on the lead, releases
   the lease and schedules the next batch if one formed. The bot state is checked before asking n8n
   and again right before sending: a human who took over in between wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models import Model
from sales_assistant.models.conversation import Conversation, KommoSnapshot, batch_id
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import (
    Action,
    AttachmentInfo,
    ClientMessage,
    ContactInfo,
    LeadInfo,
    N8nRequest,
    N8nResponse,
    TemplateReply,
    TriggerInfo,
    Turn,
    VendorInfo,
)
from sales_assistant.observability import count, logger, mask_phone, mask_text
from sales_assistant.services.actions import AnswerActions
from sales_assistant.services.delivery import (
    Delivery,
    Lease,
    LeaseLost,
    Outgoing,
    OutgoingStopped,
    Template,
    TemplateNotConfigured,
)
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.n8n import AiFailure, AiWriter
from sales_assistant.services.ports.queues import FlushScheduler
from sales_assistant.services.ports.storage import Conversations, Once, Salespeople
from sales_assistant.services.takeover import TakeoverService
from sales_assistant.texts import Texts

MAX_DELAY = 900  # SQS DelaySeconds at most


@dataclass(frozen=True)
class ReactiveConfig:
    quiet_seconds: int
    min_gap_seconds: int
    history_turns: int
    lease_seconds: int  # outside Lambda (tests, scripts); in Lambda the lease outlives the invocation
    reply_field_id: int  # the Salesbot relay's field: never sent to n8n as lead data
    n8n_path: str
    area_field: str = "Área"
    kommo_cache_seconds: int = 0  # how long a batch's lead and contact serve the next batches (0: never)


class Answer(Model):
    """What the batch gets: the text or template to send (if any), the actions to run, and why it is a
    fallback."""

    reply: str | None
    actions: list[Action] = []
    fallback_reason: str | None = None
    template: TemplateReply | None = None

    def outgoing(self, key: str, conversation_id: str, lead: KommoLead, contact_id: int) -> Outgoing | None:
        """The message to deliver, or None when the AI only asked for actions."""
        if self.reply is None and self.template is None:
            return None
        return Outgoing(
            key,
            conversation_id,
            lead.id,
            contact_id,
            lead.responsible_user_id,
            text=self.reply or "",
            template=Template(self.template.name, self.template.params)
            if self.reply is None and self.template
            else None,
        )


class ReactiveConversations:
    """The reactive flow's domain logic; every collaborator comes in as a port."""

    def __init__(
        self,
        *,
        conversations: Conversations,
        takeover: TakeoverService,
        kommo: KommoLeads,
        notes: LeadNotes,
        vendors: Salespeople,
        ai: AiWriter,
        flushes: FlushScheduler,
        delivery: Delivery,
        actions: AnswerActions,
        once: Once,
        texts: Texts,
        config: ReactiveConfig,
        lease_seconds: Callable[[], float] | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._conversations = conversations
        self._takeover = takeover
        self._kommo = kommo
        self._notes = notes
        self._vendors = vendors
        self._ai = ai
        self._flushes = flushes
        self._delivery = delivery
        self._actions = actions
        self._once = once
        self._texts = texts
        self._config = config
        self._lease_seconds = lease_seconds or (lambda: float(config.lease_seconds))
        self._clock = clock

    # ------------------------------------------------------------------ step 1: buffer
    def receive(self, message: ChatMessage) -> int:
        """Buffer a client message (once per Kommo message id) and schedule its flush; returns its seq."""
        now = int(self._clock())
        result = self._once("buffer", message.id, lambda: {"seq": self._conversations.append(message, now)})
        count("ClientMessagesIn")
        self._flushes.flush_later(message.conversation_id, int(result["seq"]), self._config.quiet_seconds)
        return int(result["seq"])

    # ------------------------------------------------------------------ step 2: answer a batch
    def flush(self, conversation_id: str, seq: int, job_id: str) -> str:
        """Answer the conversation's buffer if this job is the latest and nothing is in flight; returns
        the outcome (answered, fallback, paused, superseded, busy, waiting_gap, nothing, no_lead, ...)."""
        claimed = self._claim(conversation_id, seq, job_id)
        if isinstance(claimed, str):
            return claimed
        conversation, batch, lease = claimed
        try:
            return self._answer_batch(conversation, batch, lease)
        except LeaseLost:  # another job took the conversation over: it answers; this one sent nothing
            count("LeasesLost")
            logger.warning("conversation lease lost: nothing sent", extra={"conversation": conversation_id})
            return "lease_lost"

    def _answer_batch(self, conversation: Conversation, batch: list[ChatMessage], lease: Lease) -> str:
        if not batch:  # the job that lost the lease was already answering all of it
            self._finish(conversation, lease, [], delivered_at=None)
            return "already_answered"
        client_turns = [Turn(role="client", text=_as_text(message), at=message.created_at) for message in batch]
        contact_id = batch[-1].contact_id
        if self._takeover.is_paused(contact_id):
            return self._without_reply(conversation, lease, client_turns, "paused")
        known = self._lead_and_contact(conversation, contact_id, lease)
        if isinstance(known, str):
            return self._without_reply(conversation, lease, client_turns, known)
        lead, contact = known.lead, known.contact
        if lead.main_contact_id not in (None, contact_id) and self._takeover.is_paused(lead.main_contact_id):
            return self._without_reply(conversation, lease, client_turns, "paused")
        key = batch_id(batch)
        try:  # the kill switch: nothing is asked of n8n, the messages stay in history, no replay later
            self._delivery.check_allowed(lead.responsible_user_id)
        except OutgoingStopped as stopped:
            self._note_unanswered(lead.id, key, stopped.reason)
            return self._without_reply(conversation, lease, client_turns, stopped.reason)
        # Once per batch: a retried job (Kommo failed after n8n answered) reuses the answer instead of
        # asking n8n again, so what is delivered, noted and recorded is one and the same text.
        answer = Answer.model_validate(
            self._once(
                "answer", key, lambda: self._answer(conversation, batch, lead, contact, lease).model_dump(mode="json")
            )
        )
        outgoing = answer.outgoing(key, conversation.conversation_id, lead, contact_id)
        if outgoing is None:
            self._actions.run(answer.actions, lead, contact_id, key)
            self._finish(conversation, lease, client_turns, delivered_at=None)
            return "no_reply"
        if self._takeover.is_paused(contact_id):  # a human took over while n8n was thinking
            count("RepliesDroppedTakeover")
            text = outgoing.described
            self._notes.note(f"dropped:{key}", lead.id, self._texts.render("note_reply_dropped", reply=text))
            dropped = Turn(role="assistant", text=text, at=int(self._clock()), delivered=False)
            self._finish(conversation, lease, [*client_turns, dropped], delivered_at=None)
            return "dropped_takeover"
        try:
            delivered_at = self._delivery.send(outgoing, lease, [message.id for message in batch])
        except OutgoingStopped as stopped:  # switched on while n8n was thinking
            self._note_unanswered(lead.id, key, stopped.reason)
            held = Turn(role="assistant", text=outgoing.described, at=int(self._clock()), delivered=False)
            self._finish(conversation, lease, [*client_turns, held], delivered_at=None)
            return stopped.reason
        except TemplateNotConfigured:  # the window is closed and no Salesbot can send this template
            name = outgoing.template.name if outgoing.template else "-"
            self._actions.task(lead, f"template:{key}", "task_template_needed", template=name)
            self._actions.run(answer.actions, lead, contact_id, key)
            self._finish(conversation, lease, client_turns, delivered_at=None)
            return "template_not_configured"
        logger.info(
            "reply delivered",
            extra={
                "conversation": conversation.conversation_id,
                "messages": len(batch),
                "reply": mask_text(outgoing.described),
            },
        )
        client_text = "\n".join(turn.text for turn in client_turns)
        self._notes.note(
            f"exchange:{key}",
            lead.id,
            self._texts.render("note_exchange", client=client_text, reply=outgoing.described),
        )
        if answer.fallback_reason:
            self._actions.task(lead, f"fallback:{key}", "task_fallback", reason=answer.fallback_reason)
        self._actions.run(answer.actions, lead, contact_id, key)
        reply_turn = Turn(role="assistant", text=outgoing.described, at=delivered_at)
        self._finish(conversation, lease, [*client_turns, reply_turn], delivered_at=delivered_at)
        return "fallback" if answer.fallback_reason else "answered"

    def _note_unanswered(self, lead_id: int, key: str, reason: str) -> None:
        """Tell the salesperson on the lead that the client's messages wait for them, and why (once per batch)."""
        why = self._texts.render(f"skip_{reason}")
        self._notes.note(f"stopped:{key}", lead_id, self._texts.render("note_reply_stopped", reason=why))

    def _without_reply(self, conversation: Conversation, lease: Lease, turns: list[Turn], outcome: str) -> str:
        """End the batch without a reply: the client's messages stay in the history."""
        count("RepliesSkipped", reason=outcome)
        self._finish(conversation, lease, turns, delivered_at=None)
        return outcome

    def _claim(
        self, conversation_id: str, seq: int, job_id: str
    ) -> tuple[Conversation, list[ChatMessage], Lease] | str:
        """The conversation, the batch to answer and this job's lease; or why there is nothing to do."""
        now = self._clock()
        lease = Lease(self._conversations, conversation_id, job_id, self._lease_seconds, self._clock)
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return "nothing"
        if conversation.lease_owner == job_id:  # this job ran before and did not finish: take its batch back
            reclaimed = self._conversations.reclaim(conversation_id, job_id, lease.until_ms())
            return (reclaimed, _ordered(reclaimed.in_flight), lease) if reclaimed else "superseded"
        if conversation.seq != seq:
            return "superseded"  # a newer message came: its own flush job answers the whole buffer
        if not conversation.buffer:
            return "nothing"
        if conversation.lease_owner and conversation.lease_until_ms > now * 1000:
            # Another batch is in flight: look again when its lease ends, so that this buffer is answered
            # even if that job dies before it can schedule the next batch.
            wait = int(conversation.lease_until_ms / 1000 - now) + 1
            self._flushes.flush_later(conversation_id, seq, min(max(wait, self._config.quiet_seconds), MAX_DELAY))
            return "busy"
        gap = conversation.last_delivery_at + self._config.min_gap_seconds - now
        if gap > 0:  # the Salesbot may not have read the previous reply yet
            self._flushes.flush_later(conversation_id, seq, int(gap) + 1)
            return "waiting_gap"
        claimed = self._conversations.claim(conversation_id, seq, job_id, lease.until_ms(), int(now * 1000))
        if claimed is None:
            return "superseded"
        # Messages that a job which lost its lease was already answering are not answered again.
        batch = [message for message in claimed.in_flight if message.id not in claimed.answered_ids]
        return claimed, _ordered(batch), lease

    def _lead_and_contact(self, conversation: Conversation, contact_id: int, lease: Lease) -> KommoSnapshot | str:
        """The conversation's lead and the writing contact: kept from the last batch when still fresh (no
        Kommo call), else read from Kommo and kept. Or why there is no one to answer: a chat without a lead
        or a lead deleted in Kommo (the Salesbot relay needs a lead), a contact not linked to the lead (a
        forged or odd body must not reach another lead), a contact deleted or merged."""
        now = int(self._clock())
        kept = conversation.snapshot_for(contact_id, now, self._config.kommo_cache_seconds)
        if kept is not None:
            count("KommoReadsSaved", 2)
            return kept
        if conversation.lead_id is None:
            return "no_lead"
        lease.renew()
        try:
            lead = self._kommo.lead(conversation.lead_id)
        except NotFound:
            return "no_lead"
        if contact_id not in {linked.id for linked in lead.embedded.contacts}:
            logger.warning("the message's contact is not linked to the lead", extra={"lead_id": lead.id})
            return "contact_not_on_lead"
        lease.renew()
        try:
            contact = self._kommo.contact(contact_id)
        except NotFound:
            return "no_contact"
        snapshot = KommoSnapshot(lead=lead, contact=contact, at=now)
        if self._config.kommo_cache_seconds:
            self._conversations.remember_kommo(conversation.conversation_id, snapshot)
        return snapshot

    def _answer(
        self, conversation: Conversation, batch: list[ChatMessage], lead: KommoLead, contact: KommoContact, lease: Lease
    ) -> Answer:
        if not any(message.has_content for message in batch):
            count("UnreadableMessages")
            return Answer(reply=self._texts.render("unreadable_reply"))
        logger.debug("asking n8n", extra={"contact_phone": mask_phone(contact.phone), "messages": len(batch)})
        request = self._request(conversation, batch, lead, contact)
        lease.renew()
        try:
            response = self._ai.ask(self._config.n8n_path, request)
        except AiFailure as failure:
            count("N8nFallbacks", reason=failure.reason)
            logger.warning("n8n failed: sending the fallback text", extra={"reason": failure.reason})
            return Answer(reply=self._texts.render("fallback_reply"), fallback_reason=failure.reason)
        count("BatchesSentToN8n")
        return answer_from(response, request.window_open)

    def _request(
        self, conversation: Conversation, batch: list[ChatMessage], lead: KommoLead, contact: KommoContact
    ) -> N8nRequest:
        vendor = self._vendors.get(lead.responsible_user_id) if lead.responsible_user_id else None
        history = conversation.turns[-self._config.history_turns :] if self._config.history_turns else []
        return N8nRequest(
            kind="reply",
            conversation_id=conversation.conversation_id,
            lead=LeadInfo.of(
                lead, area=lead.field(self._config.area_field), hidden_field_ids={self._config.reply_field_id}
            ),
            contact=ContactInfo(id=contact.id, name=contact.name, phone=contact.phone),
            vendor=VendorInfo(id=vendor.vendor_id, name=vendor.name, areas=vendor.profile.areas) if vendor else None,
            messages=[_client_message(message) for message in batch],
            history=history,
            trigger=TriggerInfo.model_validate(conversation.proactive) if conversation.proactive else None,
            window_open=conversation.window_open(self._clock()),
        )

    def _finish(self, conversation: Conversation, lease: Lease, turns: list[Turn], delivered_at: int | None) -> None:
        """Record the batch's turns, release the lease and schedule the next batch if one formed."""
        now = int(self._clock())
        after = self._conversations.finish(conversation.conversation_id, lease.owner, turns, delivered_at, now)
        if after is None:  # the lease ran out after the answer went out: keep the turns, the new owner goes on
            count("LeasesLost")
            self._conversations.add_turns(conversation.conversation_id, turns, now)
            return
        if after.buffer:  # messages that came while this batch was in flight: the next batch
            delay = max(self._config.quiet_seconds, self._config.min_gap_seconds if delivered_at else 0)
            self._flushes.flush_later(after.conversation_id, after.seq, delay)


def answer_from(response: N8nResponse, window_open: bool) -> Answer:
    """What n8n's response lets the service send: free text, or a template when the window is closed."""
    reply = response.reply.strip() if response.reply and response.reply.strip() else None
    if reply and not window_open and response.template is not None:
        reply = None  # outside the 24-hour window WhatsApp only takes a template
    template = response.template if reply is None else None
    return Answer(reply=reply, actions=response.actions, template=template)


def _ordered(messages: list[ChatMessage]) -> list[ChatMessage]:
    return sorted(messages, key=lambda message: (message.created_at, message.id))


def _client_message(message: ChatMessage) -> ClientMessage:
    attachment = message.attachment
    return ClientMessage(
        id=message.id,
        text=message.text,
        type=message.message_type or "text",
        attachment=AttachmentInfo(type=attachment.type, link=attachment.link, file_name=attachment.file_name)
        if attachment and (attachment.link or attachment.type)
        else None,
        created_at=message.created_at,
        readable=message.has_content,
    )


def _as_text(message: ChatMessage) -> str:
    if message.text.strip():
        return message.text
    if message.attachment and message.attachment.link:
        kind = message.message_type or message.attachment.type
        return f"[{kind}] {message.attachment.file_name or message.attachment.link}"
    return f"[{message.message_type or 'mensagem'} sem conteúdo legível]"
