"""A client's consent to be written to first (LGPD): an opt-out stops the assistant's first messages and
follow-ups for good, until the client opts back in.

- Opt-out: a client message that is, whole, one of OPT_OUT_PHRASES ("pare", "sair", "não quero mais
  receber"...), accents, case, punctuation and emoji ignored: "Pare!" is one, "não pare de me mandar ofertas"
  is not. Recorded on the contact with the time and the words, noted on the lead, and answered with one
  confirmation (`opt_out_confirmation`) instead of n8n's answer. The same opt-out written again is not
  confirmed again (the salesperson is told on the lead). In a batch (messages within the quiet window), one
  opt-out message is enough, whatever comes with it.
- Afterwards: the assistant never writes first to the contact (`may_contact` is False: no first message, no
  follow-up), but a client who writes again is answered as usual, their own message being their request.
- Opt-in: only an explicit one, a whole message of OPT_IN_PHRASES ("voltar"), lifts the opt-out; it is
  recorded, noted and confirmed (`opt_in_confirmation`) the same way. Any other later message lifts nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sales_assistant import timing
from sales_assistant.models.consent import MAX_WORDS, ConsentRecord, ConsentStatus
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.observability import count, logger
from sales_assistant.services.ports.kommo import LeadNotes
from sales_assistant.services.ports.storage import ConsentRecords
from sales_assistant.texts import Texts

NOTES_ZONE = ZoneInfo("America/Sao_Paulo")  # the notes' times, as the salespeople read them


class Heard(StrEnum):
    """What a batch of client messages says about being contacted."""

    NOTHING = "nothing"  # n8n answers as usual
    OPTED_OUT = "opted_out"  # this batch opted out: the confirmation answers it
    STILL_OUT = "still_out"  # an opt-out written again: already confirmed, no answer
    OPTED_IN = "opted_in"  # this batch opted back in: the confirmation answers it

    @property
    def confirmation(self) -> str | None:
        """The text (texts.py) that answers the batch instead of n8n, if any."""
        return {Heard.OPTED_OUT: "opt_out_confirmation", Heard.OPTED_IN: "opt_in_confirmation"}.get(self)


def normalised(text: str) -> str:
    """A message as phrases are compared: lower case, no accents, punctuation and emoji as spaces, one space
    between words ("Não quero mais, PARE!!" -> "nao quero mais pare")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(char if char.isalnum() else " " for char in decomposed if not unicodedata.combining(char))
    return " ".join(kept.split())


class Phrases:
    """Whole messages that say one thing (an opt-out, an opt-in), compared normalised."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._phrases = frozenset(normalised(phrase) for phrase in phrases) - {""}

    def said_by(self, message: ChatMessage) -> bool:
        return normalised(message.text) in self._phrases


class ConsentService:
    """Hears opt-outs and opt-ins in client messages and answers whether the assistant may write first."""

    def __init__(
        self,
        records: ConsentRecords,
        notes: LeadNotes,
        texts: Texts,
        *,
        opt_out: Phrases,
        opt_in: Phrases,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._records = records
        self._notes = notes
        self._texts = texts
        self._opt_out = opt_out
        self._opt_in = opt_in
        self._clock = clock

    def may_contact(self, contact_id: int) -> bool:
        """False while the contact's last word is an opt-out (the `Consent` port of services/ports/flows.py)."""
        record = self._records.get(contact_id)
        return record is None or not record.opted_out

    def record(self, contact_id: int) -> ConsentRecord | None:
        return self._records.get(contact_id)

    def hear(self, contact_id: int, lead_id: int | None, messages: list[ChatMessage]) -> Heard:
        """Record what the client's messages say about being contacted (with a note on the lead), before anything
        answers them; the same batch heard again (a retried job) is heard the same."""
        record = self._records.get(contact_id)
        opting_out = next((message for message in messages if self._opt_out.said_by(message)), None)
        if opting_out is not None:
            if record is not None and record.opted_out and record.message_id != opting_out.id:
                return Heard.STILL_OUT
            return self._change(record, "opted_out", opting_out, lead_id)
        opting_in = next((message for message in reversed(messages) if self._opt_in.said_by(message)), None)
        if opting_in is not None and record is not None and (record.opted_out or record.message_id == opting_in.id):
            return self._change(record, "opted_in", opting_in, lead_id)
        return Heard.NOTHING

    def _change(
        self, record: ConsentRecord | None, status: ConsentStatus, message: ChatMessage, lead_id: int | None
    ) -> Heard:
        """Record the client's word (unless this message is the one on record), then note it on the lead once."""
        heard = Heard.OPTED_OUT if status == "opted_out" else Heard.OPTED_IN
        if record is None or record.message_id != message.id:
            changed = ConsentRecord(
                contact_id=message.contact_id,
                status=status,
                at=message.created_at,
                words=message.text[:MAX_WORDS],
                message_id=message.id,
            )
            if not self._records.save(changed, record):  # another batch of the contact recorded first: it answers
                return Heard.STILL_OUT if status == "opted_out" else Heard.NOTHING
            count("ConsentChanges", status=status)
            logger.info("consent changed", extra={"contact_id": message.contact_id, "status": status})
        if lead_id is not None:
            when = datetime.fromtimestamp(message.created_at, NOTES_ZONE).strftime("%d/%m/%Y %H:%M")
            text = self._texts.render(f"note_{status}", words=message.text[:MAX_WORDS], when=when)
            self._notes.note(f"consent:{message.id}", lead_id, text, service=True)
        return heard
