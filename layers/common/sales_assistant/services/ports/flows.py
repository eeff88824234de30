"""What one flow asks of another (the services themselves implement these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.appointment import BookingRequest
    from sales_assistant.models.kommo import KommoLead


class PauseState(Protocol):
    """Whether a salesperson has the chat of this contact (the takeover service)."""

    def is_paused(self, contact_id: int) -> bool: ...


class Booking(Protocol):
    """The scheduling service, as a `schedule` action uses it."""

    def book(self, request: BookingRequest) -> object: ...


class FollowUpLadder(Protocol):
    """A lead's follow-ups (services/follow_ups.py): started when the assistant spoke last, stopped for good by
    what the flows see (a client's or a salesperson's message, a takeover, a booked meeting...)."""

    def start(self, lead: KommoLead, contact_id: int, at: int, trigger: str | None = None) -> None: ...

    def stop(self, lead_id: int | None, reason: str) -> None: ...


class Consent(Protocol):
    """Whether the assistant may write to a contact unasked: no opt-out on record (the consent service)."""

    def may_contact(self, contact_id: int) -> bool: ...
