"""What one flow asks of another (the services themselves implement these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.appointment import BookingRequest


class PauseState(Protocol):
    """Whether a salesperson has the chat of this contact (the takeover service)."""

    def is_paused(self, contact_id: int) -> bool: ...


class Booking(Protocol):
    """The scheduling service, as a `schedule` action uses it."""

    def book(self, request: BookingRequest) -> object: ...


class Consent(Protocol):
    """Whether the assistant may write to a contact unasked: no opt-out on record (the consent service)."""

    def may_contact(self, contact_id: int) -> bool: ...
