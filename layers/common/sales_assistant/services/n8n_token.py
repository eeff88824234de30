"""What the n8n token may do on the scheduling routes: act for the lead whose conversation n8n is answering
now, with that lead's salesperson. A stolen n8n token can then only touch the agenda of a lead while the
service waits for n8n's answer to that lead's messages, never any lead or salesperson it names."""

from __future__ import annotations

from collections.abc import Callable

from sales_assistant import timing
from sales_assistant.errors import Forbidden
from sales_assistant.models.conversation import Conversation, KommoSnapshot
from sales_assistant.services.ports.kommo import KommoLeads
from sales_assistant.services.ports.storage import Conversations


class ConversationScope:
    """Checks an n8n token's request against the lead's conversation (conversation id `lead:<id>`)."""

    def __init__(
        self, conversations: Conversations, kommo: KommoLeads, clock: Callable[[], float] = timing.now
    ) -> None:
        self._conversations = conversations
        self._kommo = kommo
        self._clock = clock

    def check(self, lead_id: int, vendor_id: int | None = None) -> None:
        """Nothing when n8n is answering this lead now (and `vendor_id`, if given, is its salesperson);
        else 403 saying why."""
        conversation = self._conversations.get(f"lead:{lead_id}")
        if conversation is None or not _being_answered(conversation, self._clock()):
            raise Forbidden(f"the n8n token acts only for the lead n8n is answering now, not lead {lead_id}")
        if vendor_id is not None and vendor_id != self._salesperson(conversation, lead_id):
            raise Forbidden(f"the n8n token books only with lead {lead_id}'s own salesperson, not {vendor_id}")

    def _salesperson(self, conversation: Conversation, lead_id: int) -> int | None:
        """The salesperson n8n was told about: the lead kept on the conversation for this answer, or Kommo's
        when none is kept (KOMMO_CACHE_SECONDS=0)."""
        if conversation.kommo_snapshot:
            return KommoSnapshot.model_validate_json(conversation.kommo_snapshot).lead.responsible_user_id
        return self._kommo.lead(lead_id).responsible_user_id


def _being_answered(conversation: Conversation, now: float) -> bool:
    """A batch of the conversation is out to n8n (or being delivered): its lease is held and not over."""
    return bool(conversation.lease_owner) and conversation.lease_until_ms > now * 1000
