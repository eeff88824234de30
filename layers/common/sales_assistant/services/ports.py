"""What the services need from the outside world, as small protocols (adapters implement them,
unit tests pass fakes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sales_assistant.models.bot_state import BotState, BotStatus
from sales_assistant.models.conversation import Conversation, KommoSnapshot
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import N8nRequest, N8nResponse, Turn
from sales_assistant.models.vendor import Vendor


class AiFailure(Exception):
    """The AI (n8n) gave no usable answer; `reason`: timeout, unreachable, http_<status>, invalid_json,
    invalid_response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StateConflict(Exception):
    """Another writer changed the bot state first: re-read and try again."""


class KommoPort(Protocol):
    def lead(self, lead_id: int) -> KommoLead: ...

    def contact(self, contact_id: int) -> KommoContact: ...

    def patch_lead(
        self,
        lead_id: int,
        *,
        status_id: int | None = None,
        responsible_user_id: int | None = None,
        text_fields: dict[int, str] | None = None,
    ) -> None: ...

    def run_salesbot(self, bot_id: int, lead_id: int) -> None: ...


class LeadPatcher(Protocol):
    """Kommo, as the service's own changes to a lead use it."""

    def patch_lead(
        self, lead_id: int, *, status_id: int | None = None, responsible_user_id: int | None = None
    ) -> None: ...


class KommoCache(Protocol):
    """What a conversation kept of its lead: forgotten when the lead changes."""

    def forget_kommo(self, conversation_id: str, now: int) -> None: ...


class LeadReader(Protocol):
    def lead(self, lead_id: int) -> KommoLead: ...


class PauseState(Protocol):
    """Whether a salesperson has the chat of this contact (the takeover service)."""

    def is_paused(self, contact_id: int) -> bool: ...


class ConversationReader(Protocol):
    def get(self, conversation_id: str) -> Conversation | None: ...


class LeadNotes(Protocol):
    """Notes and tasks on leads, idempotent per key."""

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        """A note on the lead; `service`: a system event (Kommo's collapsible service message)."""
        ...

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str) -> None: ...


class BotStateRepository(Protocol):
    def get(self, contact_id: int) -> BotState | None: ...

    def save(self, state: BotState, expected_version: int) -> None: ...

    def with_status(self, status: BotStatus) -> list[BotState]: ...


class ConversationRepository(Protocol):
    def get(self, conversation_id: str) -> Conversation | None: ...

    def append(self, message: ChatMessage, now: int) -> int: ...

    def claim(
        self, conversation_id: str, seq: int, owner: str, lease_until_ms: int, now_ms: int
    ) -> Conversation | None: ...

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> Conversation | None: ...

    def mark_sending(self, conversation_id: str, owner: str, message_ids: list[str], lease_until_ms: int) -> bool: ...

    def finish(
        self, conversation_id: str, owner: str, turns: list[Turn], delivered_at: int | None, now: int
    ) -> Conversation | None: ...

    def add_turns(self, conversation_id: str, turns: list[Turn], now: int) -> None: ...

    def remember_kommo(self, conversation_id: str, snapshot: KommoSnapshot) -> None: ...

    def forget_kommo(self, conversation_id: str, now: int) -> None: ...


class VendorLookup(Protocol):
    def get(self, vendor_id: int) -> Vendor | None: ...


class AiWriter(Protocol):
    """n8n: raises AiFailure when there is no usable answer."""

    def ask(self, path: str, request: N8nRequest) -> N8nResponse: ...


class FlushScheduler(Protocol):
    """Delivers a flush job for a conversation after a delay (SQS DelaySeconds in AWS)."""

    def flush_later(self, conversation_id: str, seq: int, delay_seconds: int) -> None: ...


Once = Callable[[str, str, Callable[[], dict[str, Any]]], dict[str, Any]]
"""run_once(scope, key, effect): the effect's result, the effect run at most once per scope and key."""
