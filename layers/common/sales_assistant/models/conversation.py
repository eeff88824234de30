"""A conversation (one lead's chat): recent turns, the debounce buffer and the in-flight batch."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ConfigDict

from sales_assistant.models import Model
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Turn


class KommoSnapshot(Model):
    """The lead and the writing contact as Kommo showed them at `at` (unix s): kept on the conversation so
    that the next batch skips two Kommo reads."""

    lead: KommoLead
    contact: KommoContact
    at: int


WHATSAPP_WINDOW_SECONDS = 24 * 3600  # free text only within 24 h of the client's last message


class Conversation(Model):
    """One item of the conversations table."""

    model_config = ConfigDict(extra="ignore")

    conversation_id: str
    lead_id: int | None = None
    contact_id: int | None = None
    seq: int = 0  # number of client messages ever buffered: a flush job for an older seq ends quietly
    buffer: list[ChatMessage] = []  # client messages waiting for the quiet window
    in_flight: list[ChatMessage] = []  # the batch being answered (under the lease)
    lease_owner: str | None = None
    lease_until_ms: int = 0
    answered_ids: list[str] = []  # in-flight messages whose answer is being sent by the lease owner
    turns: list[Turn] = []
    last_client_message_at: int = 0
    last_delivery_at: int = 0
    proactive: dict[str, Any] | None = None  # the trigger that opened the conversation (n8n sees it)
    proactive_at: int = 0  # when the assistant last wrote first
    kommo_snapshot: str | None = None  # KommoSnapshot as JSON
    kommo_stale_before: int = 0  # a lead event came at this time: older snapshots are not used

    @property
    def trigger_kind(self) -> str | None:
        """The kind of the trigger that opened the conversation (None: the client wrote first)."""
        return str(self.proactive["kind"]) if self.proactive else None

    def window_open(self, now: float) -> bool:
        """Whether WhatsApp takes free text now: the client wrote in the last 24 hours."""
        return now - self.last_client_message_at < WHATSAPP_WINDOW_SECONDS

    def snapshot_for(self, contact_id: int, now: float, max_age_seconds: int) -> KommoSnapshot | None:
        """The kept lead and contact, if they are of this contact, younger than `max_age_seconds` and no lead
        event came since they were read."""
        if not self.kommo_snapshot:
            return None
        snapshot = KommoSnapshot.model_validate_json(self.kommo_snapshot)
        # read strictly after the last lead event (both in whole seconds): one in the same second may be newer
        usable = snapshot.at > self.kommo_stale_before and now - snapshot.at < max_age_seconds
        return snapshot if usable and snapshot.contact.id == contact_id else None


def batch_id(messages: list[ChatMessage]) -> str:
    """A stable id for a batch of client messages (idempotency of its reply and note)."""
    return hashlib.sha256("|".join(sorted(message.id for message in messages)).encode()).hexdigest()[:32]
