"""`POST /messages`: n8n (or ops) sends a text to a lead's WhatsApp chat through Kommo."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from sales_assistant.models import KommoId, Model

MAX_TEXT_CHARS = 4096  # WhatsApp's limit for one text message


class MessageRequest(Model):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lead_id: KommoId
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the same key never sends twice; without one, the same text to the same lead is sent once",
    )
