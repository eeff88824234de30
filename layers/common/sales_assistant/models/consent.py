"""A contact's consent to be written to first (opt-out and opt-in, LGPD), the erasure of what the service keeps
about a contact (LGPD art. 18), and the n8n contract's kind `erase`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from sales_assistant.models import KommoId, Model
from sales_assistant.models.n8n import CONTRACT_VERSION

ConsentStatus = Literal["opted_out", "opted_in"]
MAX_WORDS = 200  # what is kept of the client's words: an opt-out or opt-in is a whole short message


class ConsentRecord(Model):
    """The contact's last word on being contacted: an opt-out (no first message, no follow-up) or an opt-in
    after one. After an erasure only the fact of an opt-out is kept: `words` and `message_id` are emptied."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    contact_id: int
    status: ConsentStatus
    at: int = Field(description="when the client wrote it (unix s, Kommo's time of the message)")
    words: str = Field("", max_length=MAX_WORDS)
    message_id: str = ""  # the message that said it: a retried batch confirms again, a new message does not
    erased_at: int | None = None  # the contact's data was erased then; this record is all that is left

    @property
    def opted_out(self) -> bool:
        return self.status == "opted_out"

    def view(self) -> dict[str, object]:
        """What `GET /contacts/{id}/consent` answers about it."""
        return {
            "contact_id": self.contact_id,
            "may_contact": not self.opted_out,
            "status": self.status,
            "at": _iso(self.at),
            "words": self.words,
            "erased_at": _iso(self.erased_at) if self.erased_at else None,
        }


def no_record_view(contact_id: int) -> dict[str, object]:
    """`GET /contacts/{id}/consent` for a contact who never opted out."""
    return {"contact_id": contact_id, "may_contact": True, "status": "none", "at": None, "words": "", "erased_at": None}


class ErasureReport(Model):
    """What `DELETE /contacts/{id}/data` erased, where."""

    contact_id: int
    conversations: list[str] = Field(description="ConversationsTable: turns, buffer, kept lead and contact")
    triggers: list[str] = Field(description="TriggersTable: the contact's leads' first-message triggers and data")
    follow_ups: list[int] = Field(description="FollowUpsTable: the leads whose follow-up ladder was deleted")
    bot_state: bool = Field(description="BotStateTable: the contact's pause state was deleted")
    cached_texts: int = Field(description="IdempotencyTable: cached answers holding the conversations' texts")
    consent: Literal["kept_opt_out", "deleted", "none"] = Field(
        description="KommoTable: an opt-out is kept, reduced to the contact id and its time (the legal basis to keep "
        "not writing to them); an opt-in is deleted"
    )
    n8n_chat_memory: list[str] = Field(description="the conversations whose chat memory n8n was asked to erase")


class EraseRequest(Model):
    """Kind `erase` (docs/contracts/n8n-erase.v2.schema.json): delete n8n's chat memory of these conversations
    (the reply workflow's memory is keyed by conversation id), the contact's data being erased. Any 2xx answer
    means erased."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["2"] = CONTRACT_VERSION
    kind: Literal["erase"] = "erase"
    contact_id: KommoId
    conversation_ids: list[str] = Field(description="lead:<id> or contact:<id>, as in every other request")


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()
