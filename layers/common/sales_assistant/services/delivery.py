"""The one way out to a client's WhatsApp, shared by every flow that writes to a client.

Two pieces:
- `Lease`: one job at a time per conversation. A job holds the conversation's lease while it works,
  renews it before every outside call, and proves it still holds it with a conditional write right
  before sending; a job that lost it stops (`LeaseLost`) and sends nothing. So a reply and another
  reply (or a proactive message) to one lead never race, and the Salesbot relay reads one text.
- `Delivery`: the Salesbot relay (write the text into the lead's reply field, run the Salesbot; a
  template: write its variables into their lead fields, run the template's Salesbot), at most once
  per key. The run is recorded as attempted *before* it is posted: when the post fails
  in a way Kommo may still have applied (a timeout, a 5xx), it is never posted again; the delivery
  is confirmed when Kommo reports the bot's message back (its echo), and a salesperson gets a task
  when no echo comes. The client never gets the same answer twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from sales_assistant import timing
from sales_assistant.errors import DependencyDown, DependencyError
from sales_assistant.models import Model
from sales_assistant.models.n8n import Turn
from sales_assistant.observability import count, logger
from sales_assistant.services.echoes import sent_message_echo_keys, template_echo_key
from sales_assistant.services.ports.kommo import LeadNotes, SalesbotRelay
from sales_assistant.services.ports.queues import FlushScheduler
from sales_assistant.services.ports.storage import Conversations, DeliveryLog, EchoMemory, LeaseStore, Switches
from sales_assistant.texts import Texts

NOT_APPLIED_STATUSES = {400, 401, 402, 403, 404, 422, 429}  # Kommo refused: the run did not happen


class ConversationBusy(Exception):
    """Another job is writing to this lead (or the minimum gap is not over): the queue retries soon."""


class LeaseLost(Exception):
    """Another job holds the conversation now: this one must not send anything."""


class AwaitingConfirmation(DependencyError):
    """A Salesbot run may or may not have happened: wait for its echo until `retry_at` (unix s), when the
    queue brings the record back to confirm the run or ask a salesperson."""

    code = "awaiting_confirmation"

    def __init__(self, message: str, retry_at: int) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class OutgoingStopped(Exception):
    """The kill switch (all, or this salesperson's leads) holds the assistant's messages: nothing is sent
    and nothing is queued for later (turning it back needs no replay)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Lease:
    """A job's hold on one conversation, for `seconds()` from each renewal (the invocation's remaining
    time plus a margin, so it outlives the job that holds it)."""

    def __init__(
        self,
        store: LeaseStore,
        conversation_id: str,
        owner: str,
        seconds: Callable[[], float],
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._store = store
        self.conversation_id = conversation_id
        self.owner = owner
        self._seconds = seconds
        self._clock = clock

    def until_ms(self) -> int:
        """When a lease taken or renewed now ends (ms)."""
        return int((self._clock() + self._seconds()) * 1000)

    def renew(self) -> None:
        """Extend the lease before an outside call; raises LeaseLost when another job took it."""
        if self._store.reclaim(self.conversation_id, self.owner, self.until_ms()) is None:
            raise LeaseLost(self.conversation_id)

    def guard_send(self, message_ids: list[str]) -> None:
        """The conditional write right before sending: still ours, and these client messages are being
        answered (a job that takes the conversation over later leaves them out of its batch)."""
        if not self._store.mark_sending(self.conversation_id, self.owner, message_ids, self.until_ms()):
            raise LeaseLost(self.conversation_id)


@dataclass(frozen=True)
class ConversationDoor:
    """Takes a conversation's lease for a message that is not a reply (a first message, an appointment
    confirmation or reminder) and gives it back, handing any client messages that came meanwhile to the
    reactive flow."""

    conversations: Conversations
    flushes: FlushScheduler
    seconds: Callable[[], float]
    min_gap_seconds: int
    clock: Callable[[], float] = timing.now

    def take(self, conversation_id: str, lead_id: int, contact_id: int, owner_prefix: str) -> Lease:
        """The lease, when no batch is in flight and the last delivery is `min_gap_seconds` old; raises
        ConversationBusy otherwise."""
        owner = f"{owner_prefix}-{uuid.uuid4().hex}"
        lease = Lease(self.conversations, conversation_id, owner, self.seconds, self.clock)
        free_after = int(self.clock()) - self.min_gap_seconds
        if (
            self.conversations.acquire(conversation_id, lead_id, contact_id, owner, lease.until_ms(), free_after)
            is None
        ):
            raise ConversationBusy(conversation_id)
        return lease

    @contextmanager
    def visit(self, conversation_id: str, lead_id: int, contact_id: int, owner_prefix: str) -> Iterator[Visit]:
        """Hold the conversation's lease for the block and give it back however the block ends, with the
        message the block delivered as the assistant's turn (raises ConversationBusy)."""
        visit = Visit(self.take(conversation_id, lead_id, contact_id, owner_prefix))
        try:
            yield visit
        finally:
            self.give_back(visit.lease, visit.turns, visit.delivered_at)

    def give_back(self, lease: Lease, turns: list[Turn], delivered_at: int | None) -> None:
        """Record the turns, release the lease, and schedule the reactive flow for a buffer that formed."""
        now = int(self.clock())
        after = self.conversations.finish(lease.conversation_id, lease.owner, turns, delivered_at, now)
        if after is not None and after.buffer:  # the client wrote meanwhile: the reactive flow answers
            self.flushes.flush_later(after.conversation_id, after.seq, max(self.min_gap_seconds, 1))

    def deliver(self, delivery: Delivery, message: Outgoing, owner_prefix: str) -> int:
        """Send one message that answers no client message (a confirmation, a reminder, n8n's message):
        take the lease, send it once through `delivery`, record it as the assistant's turn and give the
        lease back, also when the send fails. Returns when it was delivered; raises ConversationBusy or
        what Delivery.send raises (OutgoingStopped, TemplateNotConfigured, ...)."""
        with self.visit(message.conversation_id, message.lead_id, message.contact_id, owner_prefix) as visit:
            return visit.delivered(message, delivery.send(message, visit.lease, []))


class Visit:
    """A job's hold on a conversation (`ConversationDoor.visit`): its lease, and what it delivered."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.turns: list[Turn] = []
        self.delivered_at: int | None = None

    def delivered(self, message: Outgoing, at: int) -> int:
        """Record that `message` went out at `at` (returned): it becomes the assistant's turn."""
        self.turns = [Turn(role="assistant", text=message.described, at=at)]
        self.delivered_at = at
        return at


class DeliveryRecord(Model):
    """What is known of one delivery: the run was attempted, delivered, or could not be confirmed."""

    state: Literal["run_attempted", "delivered", "unconfirmed"]
    at: int


@dataclass(frozen=True)
class Template:
    """A Meta-approved WhatsApp template and its variables (the only message allowed outside the 24-hour
    window)."""

    name: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    """One message for a client, free text or a template: `key` makes it once-only (a batch id, a
    trigger id)."""

    key: str
    conversation_id: str
    lead_id: int
    contact_id: int
    responsible_user_id: int | None
    text: str = ""
    template: Template | None = None

    @property
    def echo_keys(self) -> list[str]:
        """How the message is recognised when Kommo reports it back."""
        if self.template is not None:
            return [template_echo_key(self.contact_id)]
        return sent_message_echo_keys(self.conversation_id, self.contact_id, self.text)

    @property
    def described(self) -> str:
        """The message in a salesperson's words (notes, tasks)."""
        if self.template is None:
            return self.text
        params = ", ".join(f"{name}={value}" for name, value in self.template.params.items())
        return f"[modelo {self.template.name}{': ' + params if params else ''}]"


class TemplateNotConfigured(ValueError):
    """No template Salesbot (or no lead field for one of its variables) is configured for this template."""


@dataclass(frozen=True)
class DeliveryConfig:
    salesbot_id: int
    reply_field_id: int
    template_salesbot_id: int | None = None  # KOMMO_TEMPLATE_SALESBOT_ID: its message step uses the template
    template_salesbots: dict[str, int] = field(default_factory=dict)  # template name -> its own Salesbot
    template_fields: dict[str, int] = field(default_factory=dict)  # template variable -> lead field id
    confirm_seconds: int = 120  # how long an ambiguous run waits for its echo before a salesperson is asked

    def relay_for(self, outgoing: Outgoing) -> tuple[int, dict[int, str]]:
        """The Salesbot to run and the lead fields to write first (raises TemplateNotConfigured)."""
        if outgoing.template is None:
            return self.salesbot_id, {self.reply_field_id: outgoing.text}
        bot = self.template_salesbots.get(outgoing.template.name, self.template_salesbot_id)
        missing = sorted(set(outgoing.template.params) - set(self.template_fields))
        if bot is None or missing:
            raise TemplateNotConfigured(
                f"template {outgoing.template.name}: "
                + ("no template Salesbot" if bot is None else f"no lead field for {', '.join(missing)}")
            )
        return bot, {self.template_fields[name]: value for name, value in outgoing.template.params.items()}


class Delivery:
    """Sends texts through the Salesbot relay, at most once per key."""

    def __init__(
        self,
        *,
        kommo: SalesbotRelay,
        echoes: EchoMemory,
        log: DeliveryLog,
        notes: LeadNotes,
        texts: Texts,
        config: DeliveryConfig,
        switches: Switches | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._kommo = kommo
        self._echoes = echoes
        self._log = log
        self._notes = notes
        self._texts = texts
        self._config = config
        self._switches = switches
        self._clock = clock

    def stops(self, vendor_id: int | None) -> str | None:
        """Why the kill switch holds messages to this salesperson's leads now (None: it does not)."""
        return self._switches.stops(vendor_id) if self._switches else None

    def check_allowed(self, vendor_id: int | None) -> None:
        """Raise OutgoingStopped when the kill switch holds messages to this salesperson's leads (the flows
        ask before calling n8n; `send` asks again right before sending)."""
        reason = self.stops(vendor_id)
        if reason:
            count("RepliesHeld", reason=reason)
            raise OutgoingStopped(reason)

    def send(self, outgoing: Outgoing, lease: Lease, message_ids: list[str]) -> int:
        """Deliver `outgoing` unless it was already; returns when it was delivered (unix time).

        Raises LeaseLost or OutgoingStopped (nothing sent), TemplateNotConfigured, AwaitingConfirmation or a
        Kommo error (the queue retries)."""
        record = self._log.get(outgoing.key)
        if record is not None and record.state != "run_attempted":
            return record.at
        if record is not None:
            return self._confirm(outgoing, record)
        self.check_allowed(outgoing.responsible_user_id)
        bot_id, fields = self._config.relay_for(outgoing)
        lease.guard_send(message_ids)
        self._echoes.remember(outgoing.echo_keys)
        if fields:
            self._kommo.patch_lead(outgoing.lead_id, text_fields=fields)
        now = int(self._clock())
        if not self._log.start_run(outgoing.key, now):
            return self._confirm(outgoing, self._log.get(outgoing.key) or DeliveryRecord(state="run_attempted", at=now))
        try:
            self._kommo.run_salesbot(bot_id, outgoing.lead_id)
        except DependencyError as error:
            if isinstance(error, DependencyDown) or getattr(error, "kommo_status", 0) in NOT_APPLIED_STATUSES:
                self._log.forget_run(outgoing.key)  # Kommo refused it: a retry may run it
            else:
                count("DeliveriesAmbiguous")
                logger.warning("salesbot run outcome unknown: waiting for its echo", extra={"key": outgoing.key})
            raise
        self._log.finish(outgoing.key, "delivered", now)
        count("RepliesDelivered")
        return now

    def _confirm(self, outgoing: Outgoing, record: DeliveryRecord) -> int:
        """After an ambiguous run: delivered if its echo came back since it was attempted (`remember`, before
        the run, forgot any earlier identical message's echo); else wait, then ask a salesperson."""
        now = int(self._clock())
        if any(self._echoes.seen(key) for key in outgoing.echo_keys):
            self._log.finish(outgoing.key, "delivered", record.at)
            count("RepliesDelivered")
            count("DeliveriesConfirmedByEcho")
            return record.at
        if now - record.at < self._config.confirm_seconds:
            raise AwaitingConfirmation(
                f"delivery {outgoing.key}: waiting for the Salesbot's echo", record.at + self._config.confirm_seconds
            )
        self._notes.task(
            f"unconfirmed:{outgoing.key}",
            outgoing.lead_id,
            outgoing.responsible_user_id or 0,
            self._texts.render("task_delivery_unconfirmed", reply=outgoing.described),
        )
        self._log.finish(outgoing.key, "unconfirmed", record.at)
        count("DeliveriesUnconfirmed")
        return record.at
