"""Items the service puts on its SQS queues: one model per kind, parsed back by the consumers."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from sales_assistant.models import Model
from sales_assistant.models.appointment import Appointment
from sales_assistant.models.kommo_webhook import ChatMessage, LeadChange, LeadNote, UnsortedLead
from sales_assistant.models.trigger import TriggerKind


class Flow(StrEnum):
    """The queue (and so the flow) that owns an item."""

    CONVERSATIONS = "conversations"
    COMMANDS = "commands"
    LEAD_EVENTS = "lead_events"
    SCHEDULING = "scheduling"


class _Item(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)
    flow: ClassVar[Flow]


class ClientMessageReceived(_Item):
    """A client wrote in a chat: the reactive flow answers it."""

    flow: ClassVar[Flow] = Flow.CONVERSATIONS
    kind: Literal["client_message"] = "client_message"
    message: ChatMessage

    @property
    def dedup_key(self) -> str:
        return f"msg:{self.message.id}"

    @property
    def group_id(self) -> str:
        return self.message.conversation_id


class SalespersonMessageReceived(_Item):
    """A Kommo user (salesperson) wrote in a chat: a command, or a manual reply that pauses the bot."""

    flow: ClassVar[Flow] = Flow.COMMANDS
    kind: Literal["salesperson_message"] = "salesperson_message"
    message: ChatMessage
    author: Literal["salesperson", "phone_app"] = "salesperson"  # phone_app: WhatsApp Business app, no Kommo user

    @property
    def dedup_key(self) -> str:
        return f"msg:{self.message.id}"

    @property
    def group_id(self) -> str:
        return self.message.conversation_id


class SalespersonNoteAdded(_Item):
    """A salesperson wrote a command in a note on a lead (the client never sees a note)."""

    flow: ClassVar[Flow] = Flow.COMMANDS
    kind: Literal["salesperson_note"] = "salesperson_note"
    note: LeadNote

    @property
    def dedup_key(self) -> str:
        return f"note:{self.note.id}"

    @property
    def group_id(self) -> str:
        return f"lead:{self.note.lead_id}"


class LeadNoteDue(_Item):
    """A note a command owes the salespeople, which Kommo could not take when the command ran: written later,
    in a group of its own, so the lead's next commands and manual replies never wait behind it."""

    flow: ClassVar[Flow] = Flow.COMMANDS
    kind: Literal["lead_note"] = "lead_note"
    key: str = Field(max_length=400)
    lead_id: int
    text: str = Field(max_length=10_000)
    service: bool = False

    @property
    def dedup_key(self) -> str:
        return "lead-note:" + hashlib.sha256(self.key.encode()).hexdigest()[:40]

    @property
    def group_id(self) -> str:
        return f"lead-notes:{self.lead_id}"


class LeadChanged(_Item):
    """A lead was added, changed status or changed responsible: the proactive flow may act."""

    flow: ClassVar[Flow] = Flow.LEAD_EVENTS
    kind: Literal["lead_change"] = "lead_change"
    change: LeadChange

    @property
    def dedup_key(self) -> str:
        digest = hashlib.sha256(self.change.model_dump_json().encode()).hexdigest()[:24]
        return f"lead:{self.change.kind}:{self.change.id}:{digest}"

    @property
    def group_id(self) -> str:
        return f"lead:{self.change.id}"


class UnsortedLeadAdded(_Item):
    """An incoming (unsorted) lead arrived."""

    flow: ClassVar[Flow] = Flow.LEAD_EVENTS
    kind: Literal["unsorted_lead"] = "unsorted_lead"
    lead: UnsortedLead

    @property
    def dedup_key(self) -> str:
        return f"unsorted:{self.lead.uid}"

    @property
    def group_id(self) -> str:
        return f"unsorted:{self.lead.uid}"


class TriggerDue(_Item):
    """A lead should get its first message (from POST /triggers, a new lead matching the trigger rules,
    or the sweep of deferred triggers whose salesperson's hours opened)."""

    flow: ClassVar[Flow] = Flow.LEAD_EVENTS
    kind: Literal["trigger"] = "trigger"
    lead_id: int
    trigger: TriggerKind
    data: dict[str, Any] = {}
    source: Literal["api", "webhook", "sweep"]
    lead_created_at: int | None = None

    @property
    def dedup_key(self) -> str:
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:24]
        return f"trigger:{self.lead_id}:{self.trigger}:{digest}"

    @property
    def group_id(self) -> str:
        return f"lead:{self.lead_id}"


class FollowUpDue(_Item):
    """A lead's follow-up is due (the sweep found it): send it unless its ladder stopped or moved on since."""

    flow: ClassVar[Flow] = Flow.LEAD_EVENTS
    kind: Literal["follow_up"] = "follow_up"
    lead_id: int
    anchor_at: int  # the ladder: when the assistant's unanswered message went out
    attempt: int

    @property
    def dedup_key(self) -> str:
        return f"follow-up:{self.lead_id}:{self.anchor_at}:{self.attempt}"

    @property
    def group_id(self) -> str:
        return f"lead:{self.lead_id}"


class ConversationFlushDue(_Item):
    """The quiet window of a conversation may be over: answer its buffer if no newer message came."""

    flow: ClassVar[Flow] = Flow.CONVERSATIONS
    kind: Literal["flush_due"] = "flush_due"
    conversation_id: str
    seq: int

    @property
    def dedup_key(self) -> str:
        return f"flush:{self.conversation_id}:{self.seq}"

    @property
    def group_id(self) -> str:
        return self.conversation_id


class AppointmentChanged(_Item):
    """An appointment was booked, rescheduled or cancelled: its follow-ups (n8n, Kommo task and note, the
    client's confirmation, reminders) run once each. It carries the appointment as it was then."""

    flow: ClassVar[Flow] = Flow.SCHEDULING
    kind: Literal["appointment_changed"] = "appointment_changed"
    change: Literal["booked", "rescheduled", "cancelled"]
    appointment: Appointment

    @property
    def dedup_key(self) -> str:
        return f"appointment:{self.appointment.appointment_id}:{self.appointment.version}"

    @property
    def group_id(self) -> str:
        return f"appointment:{self.appointment.appointment_id}"


class AppointmentReminderDue(_Item):
    """A one-time schedule fired: remind the client of the appointment (unless it changed since)."""

    flow: ClassVar[Flow] = Flow.SCHEDULING
    kind: Literal["appointment_reminder"] = "appointment_reminder"
    appointment_id: str
    version: int
    minutes_before: int

    @property
    def dedup_key(self) -> str:
        return f"reminder:{self.appointment_id}:{self.version}:{self.minutes_before}"

    @property
    def group_id(self) -> str:
        return f"appointment:{self.appointment_id}"


class AppointmentOverDue(_Item):
    """A one-time schedule fired the no-show grace period after an appointment's end: the meeting counts held
    unless it moved, was cancelled or was marked missed since."""

    flow: ClassVar[Flow] = Flow.SCHEDULING
    kind: Literal["appointment_over"] = "appointment_over"
    appointment_id: str
    version: int

    @property
    def dedup_key(self) -> str:
        return f"over:{self.appointment_id}:{self.version}"

    @property
    def group_id(self) -> str:
        return f"appointment:{self.appointment_id}"


QueueItem = Annotated[
    ClientMessageReceived
    | SalespersonMessageReceived
    | SalespersonNoteAdded
    | LeadNoteDue
    | LeadChanged
    | UnsortedLeadAdded
    | TriggerDue
    | FollowUpDue
    | ConversationFlushDue
    | AppointmentChanged
    | AppointmentReminderDue
    | AppointmentOverDue,
    Field(discriminator="kind"),
]
queue_item_adapter: TypeAdapter[QueueItem] = TypeAdapter(
    QueueItem, config=ConfigDict(defer_build=True)
)  # built on first use


class InvalidQueueItem(ValueError):
    """A queue message that is not one of the service's items (its values are never in the message)."""


def parse_queue_item(body: str) -> QueueItem:
    """Parse an SQS message body back into its item (raises InvalidQueueItem, without personal data)."""
    try:
        return queue_item_adapter.validate_json(body)
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidQueueItem(
            f"not a queue item ({error.error_count()} problem(s)); {where}: {first['msg']}"
        ) from None
