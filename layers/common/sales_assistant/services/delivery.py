"""The one way out to a client's WhatsApp, shared by every flow that writes to a client, under the
conversation's lease (leases.py).

`Delivery`: the Salesbot relay (write the text into the lead's reply field, run the Salesbot; a
  template: write its variables into their lead fields, run the template's Salesbot), at most once
  per key. The run is recorded as attempted *before* it is posted: when the post fails
  in a way Kommo may still have applied (a timeout, a 5xx), it is never posted again; the delivery
  is confirmed when Kommo reports the bot's message back (its echo), and a salesperson gets a task
  when no echo comes. The client never gets the same answer twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sales_assistant import timing
from sales_assistant.errors import DependencyDown, DependencyError
from sales_assistant.models import Model
from sales_assistant.models.prices import MessageCategory
from sales_assistant.observability import count, logger
from sales_assistant.services.echoes import sent_message_echo_keys, template_echo_key
from sales_assistant.services.leases import Lease
from sales_assistant.services.ports.kommo import LeadNotes, SalesbotRelay
from sales_assistant.services.ports.storage import DeliveryLog, EchoMemory, Switches
from sales_assistant.texts import Texts

if TYPE_CHECKING:
    from sales_assistant.services.costs import Costs

NOT_APPLIED_STATUSES = {400, 401, 402, 403, 404, 422, 429}  # Kommo refused: the run did not happen


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
    category: Literal["marketing", "utility"] = "marketing"  # as Meta approved it: what it bills


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
    trigger: str | None = None  # what opened the conversation (the funnel's trigger kind; None: the client)

    @property
    def category(self) -> MessageCategory:
        """How WhatsApp bills it: the template's category, or service (free text, only inside the window)."""
        return self.template.category if self.template else "service"

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
        costs: Costs | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._kommo = kommo
        self._echoes = echoes
        self._log = log
        self._notes = notes
        self._texts = texts
        self._config = config
        self._switches = switches
        self._costs = costs
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
        self._delivered(outgoing)
        return now

    def _delivered(self, outgoing: Outgoing) -> None:
        """Count a delivered message (once per key: a redelivered record counts no cost twice)."""
        count("RepliesDelivered")
        if self._costs:
            self._costs.delivered(outgoing)

    def _confirm(self, outgoing: Outgoing, record: DeliveryRecord) -> int:
        """After an ambiguous run: delivered if its echo came back since it was attempted (`remember`, before
        the run, forgot any earlier identical message's echo); else wait, then ask a salesperson."""
        now = int(self._clock())
        if any(self._echoes.seen(key) for key in outgoing.echo_keys):
            self._log.finish(outgoing.key, "delivered", record.at)
            self._delivered(outgoing)
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
