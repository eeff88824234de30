"""Erasure on request (LGPD art. 18): `DELETE /contacts/{id}/data` removes what the service keeps about a
contact and asks n8n to forget its chat memory of the contact's conversations.

Erased: the contact's conversations (their turns, the buffer, the lead and contact kept from Kommo: the
contact's own chat, the chats of their leads as Kommo lists them, and every chat they last wrote in), the
first-message triggers of those leads (the data a site form sent), their follow-up ladders, the bot's pause
state, and the cached answers holding those conversations' texts (idempotency records). An opt-out is kept,
reduced to the contact id and its time: the service must go on not writing to them (the legal basis to keep
it); an opt-in goes.
n8n is asked first: when it fails nothing is erased here (502), so the operator's retry finds everything again.
Not erased: appointments (the salesperson's agenda; they hold the contact id, no contact details); the echo
keys of the messages sent last (a hash of the text, gone within ECHO_TTL_SECONDS: without them Kommo's echo of
the service's own message would pass for a salesperson's and pause the bot); received-message markers (message
ids, 2 days); parked webhook entities (14 days, for an operator). What Kommo keeps is Kommo's to delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sales_assistant import timing
from sales_assistant.errors import DependencyError, NotFound
from sales_assistant.models.consent import ConsentRecord, EraseRequest, ErasureReport
from sales_assistant.models.conversation import Conversation
from sales_assistant.observability import count, logger
from sales_assistant.services.delivery import Outgoing, Template
from sales_assistant.services.ports.kommo import ContactLeads
from sales_assistant.services.ports.n8n import AiFailure, ChatMemoryEraser
from sales_assistant.services.ports.storage import ConsentRecords, ContactData
from sales_assistant.texts import Texts


class ContactErasure:
    """Erases a contact's data, table by table, and n8n's chat memory of their conversations."""

    def __init__(
        self,
        *,
        kommo: ContactLeads,
        data: ContactData,
        consent: ConsentRecords,
        n8n: ChatMemoryEraser,
        n8n_path: str,
        texts: Texts,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._kommo = kommo
        self._data = data
        self._consent = consent
        self._n8n = n8n
        self._n8n_path = n8n_path
        self._texts = texts
        self._clock = clock

    def erase(self, contact_id: int) -> ErasureReport:
        """Erase what the service keeps about the contact; what was erased where (raises DependencyError when n8n
        did not confirm: nothing is erased then)."""
        lead_ids = self._lead_ids(contact_id)
        conversations = self._data.conversations_of(contact_id, lead_ids)
        memory = sorted(
            {conversation.conversation_id for conversation in conversations}
            | {f"lead:{lead_id}" for lead_id in lead_ids}
            | {f"contact:{contact_id}"}
        )
        self._forget_chat_memory(contact_id, memory)
        for conversation in conversations:
            self._data.delete_conversation(conversation.conversation_id)
        leads = sorted(set(lead_ids) | {conversation.lead_id for conversation in conversations if conversation.lead_id})
        report = ErasureReport(
            contact_id=contact_id,
            conversations=sorted(conversation.conversation_id for conversation in conversations),
            triggers=[trigger_id for lead_id in leads for trigger_id in self._data.delete_triggers(lead_id)],
            follow_ups=[lead_id for lead_id in leads if self._data.delete_follow_ups(lead_id)],
            bot_state=self._data.delete_bot_state(contact_id),
            cached_texts=self._forget_cached_texts(conversations),
            consent=self._minimise_consent(contact_id),
            n8n_chat_memory=memory,
        )
        count("ContactsErased")
        logger.info("contact data erased", extra={"contact_id": contact_id, "conversations": len(conversations)})
        return report

    def _lead_ids(self, contact_id: int) -> list[int]:
        """The contact's leads as Kommo lists them (none when Kommo no longer knows the contact)."""
        try:
            return self._kommo.contact_lead_ids(contact_id)
        except NotFound:
            return []

    def _forget_chat_memory(self, contact_id: int, conversation_ids: list[str]) -> None:
        try:
            self._n8n.deliver(self._n8n_path, EraseRequest(contact_id=contact_id, conversation_ids=conversation_ids))
        except AiFailure as failure:
            logger.warning("n8n did not erase its chat memory: nothing erased", extra={"reason": failure.reason})
            raise DependencyError(
                f"n8n did not erase its chat memory ({failure.reason}): nothing was erased, try again later",
                code="n8n_failed",
            ) from None

    def _forget_cached_texts(self, conversations: list[Conversation]) -> int:
        """Delete the cached answers (a reply's, a first message's, an n8n message's) that sent one of these
        conversations' texts; the service's own fixed texts, the same for every client, are left."""
        own = {str(text) for text in self._texts.model_dump().values()}
        texts = {turn.text for conversation in conversations for turn in conversation.turns} - own
        return self._data.delete_cached(lambda cached: _sent_text(cached) in texts) if texts else 0

    def _minimise_consent(self, contact_id: int) -> Literal["kept_opt_out", "deleted", "none"]:
        record = self._consent.get(contact_id)
        if record is None:
            return "none"
        if not record.opted_out:
            self._consent.delete(contact_id)
            return "deleted"
        minimal = ConsentRecord(contact_id=contact_id, status="opted_out", at=record.at, erased_at=int(self._clock()))
        self._consent.save(minimal, record)
        return "kept_opt_out"


def _sent_text(cached: dict[str, Any]) -> str | None:
    """The text a cached answer sent, as a conversation's turns keep it: its reply (or an n8n message's `text`),
    or its template in a salesperson's words."""
    text = cached.get("reply") or cached.get("text")
    if isinstance(text, str):
        return text
    template = cached.get("template")
    if isinstance(template, dict):
        params = {str(name): str(value) for name, value in (template.get("params") or {}).items()}
        return Outgoing("", "", 0, 0, None, template=Template(str(template.get("name")), params)).described
    return None
