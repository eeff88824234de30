"""Messages n8n asks the service to send (`POST /messages`): a text to a lead's WhatsApp chat, through
the shared delivery path, under the conversation's lease, once per key (the key with another text is
refused), noted on the lead; never to a contact who opted out, never over a salesperson who took over, never
outside the 24-hour window (WhatsApp refuses free text there)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sales_assistant import timing
from sales_assistant.errors import Conflict, NotFound, Unprocessable
from sales_assistant.models.message import MessageRequest
from sales_assistant.observability import count, fingerprint
from sales_assistant.services.consent import ConsentService
from sales_assistant.services.delivery import Delivery, Outgoing, OutgoingStopped
from sales_assistant.services.idempotency_keys import ensure_same_request
from sales_assistant.services.leases import ConversationBusy, ConversationDoor
from sales_assistant.services.ports.flows import PauseState
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.storage import Conversations, Once
from sales_assistant.texts import Texts


class MessagesToClients:
    """`send` one text to a lead's main contact; each refusal is an AppError the caller can relay."""

    def __init__(
        self,
        *,
        kommo: KommoLeads,
        consent: ConsentService,
        takeover: PauseState,
        conversations: Conversations,
        door: ConversationDoor,
        delivery: Delivery,
        notes: LeadNotes,
        once: Once,
        texts: Texts,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._kommo = kommo
        self._consent = consent
        self._takeover = takeover
        self._conversations = conversations
        self._door = door
        self._delivery = delivery
        self._notes = notes
        self._once = once
        self._texts = texts
        self._clock = clock

    def send(self, request: MessageRequest) -> dict[str, Any]:
        """Deliver the text (or find it delivered already); returns {"message_key", "delivered_at"}."""
        text = fingerprint(request.text)  # kept with the key: no personal data in the idempotency table
        key = f"api-message:{request.lead_id}:{request.idempotency_key or text}"
        outcome = self._once("api-message", key, lambda: {"delivered_at": self._deliver(request, key), "text": text})
        if outcome.get("in_progress"):
            raise Conflict("the same message is being sent right now", code="in_progress")
        ensure_same_request(text, outcome.get("text", text))  # a record kept before texts were: the same
        return {"message_key": key, "delivered_at": outcome["delivered_at"]}

    def _deliver(self, request: MessageRequest, key: str) -> int:
        try:
            lead = self._kommo.lead(request.lead_id)
        except NotFound:
            raise NotFound(f"lead {request.lead_id} does not exist in Kommo", code="unknown_lead") from None
        contact_id = lead.main_contact_id
        if contact_id is None:
            raise Unprocessable("the lead has no contact to write to", code="no_contact")
        self._refuse_if_opted_out(contact_id)
        if self._takeover.is_paused(contact_id):
            raise Conflict("a salesperson has taken over this conversation", code="salesperson_has_chat")
        conversation_id = f"lead:{lead.id}"
        conversation = self._conversations.get(conversation_id)
        if conversation is None or not conversation.window_open(self._clock()):
            raise Unprocessable(
                "the client has not written in 24 hours: WhatsApp takes only a template now", code="window_closed"
            )
        message = Outgoing(
            key,
            conversation_id,
            lead.id,
            contact_id,
            lead.responsible_user_id,
            text=request.text,
            trigger=conversation.trigger_kind,
        )
        try:
            delivered_at = self._door.deliver(self._delivery, message, "api-message")
        except ConversationBusy:
            raise Conflict("the assistant is writing to this lead: try again in a few seconds", code="busy") from None
        except OutgoingStopped as stopped:
            raise Conflict(f"outgoing messages are stopped ({stopped.reason})", code="outgoing_stopped") from None
        self._notes.note(f"note:{key}", lead.id, self._texts.render("note_api_message", text=request.text))
        count("ApiMessagesSent")
        return delivered_at

    def _refuse_if_opted_out(self, contact_id: int) -> None:
        """409 `opted_out`, with its date, for a contact whose last word was an opt-out (until they opt back in)."""
        consent = self._consent.record(contact_id)
        if consent is not None and consent.opted_out:
            since = datetime.fromtimestamp(consent.at, UTC).isoformat()
            raise Conflict(
                f"the contact opted out of the assistant's messages on {since}: nothing is sent until they opt back in",
                code="opted_out",
                details={"opted_out_at": since},
            )
