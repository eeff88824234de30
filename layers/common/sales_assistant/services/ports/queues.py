"""Work handed to a later invocation through a queue (adapters/queues.py implements every one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.queue import AppointmentChanged, FollowUpDue, LeadNoteDue, TriggerDue


class FlushScheduler(Protocol):
    """Delivers a flush job for a conversation after a delay (SQS DelaySeconds in AWS)."""

    def flush_later(self, conversation_id: str, seq: int, delay_seconds: int) -> None: ...


class TriggerQueue(Protocol):
    """Queues a trigger for the proactive flow."""

    def publish(self, item: TriggerDue) -> str: ...


class FollowUpQueue(Protocol):
    """Queues a lead's due follow-up for sending."""

    def publish(self, item: FollowUpDue) -> str: ...


class AppointmentEvents(Protocol):
    """Queues an appointment's change for its follow-ups (agenda, confirmation, reminders)."""

    def publish(self, item: AppointmentChanged) -> str: ...


class LaterNotes(Protocol):
    """Queues a note Kommo could not take now, to be written by a later invocation."""

    def publish(self, item: LeadNoteDue) -> str: ...
