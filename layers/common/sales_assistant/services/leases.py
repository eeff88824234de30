"""One job at a time per conversation: the lease every flow that writes to a client holds.

A job holds the conversation's lease while it works, renews it before every outside call, and proves it
still holds it with a conditional write right before sending; a job that lost it stops (`LeaseLost`) and
sends nothing. So a reply and another reply (or a first message, a confirmation) to one lead never race,
and the Salesbot relay reads one text. `ConversationDoor` takes and gives back the lease for a message
that answers no client message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sales_assistant import timing
from sales_assistant.models.n8n import Turn
from sales_assistant.services.ports.queues import FlushScheduler
from sales_assistant.services.ports.storage import Conversations, LeaseStore

if TYPE_CHECKING:
    from sales_assistant.services.delivery import Delivery, Outgoing


class ConversationBusy(Exception):
    """Another job is writing to this lead (or the minimum gap is not over): the queue retries soon."""


class LeaseLost(Exception):
    """Another job holds the conversation now: this one must not send anything."""


class Lease:
    """A job's hold on one conversation, for `seconds()` from each renewal (the invocation's remaining
    time plus a margin, so it outlives the job that holds it)."""

    def __init__(
        self,
        store: LeaseStore,
        conversation_id: str,
        owner: str,
        seconds: Callable[[], float],
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._store = store
        self.conversation_id = conversation_id
        self.owner = owner
        self._seconds = seconds
        self._clock = clock

    def until_ms(self) -> int:
        """When a lease taken or renewed now ends (ms)."""
        return int((self._clock() + self._seconds()) * 1000)

    def renew(self) -> None:
        """Extend the lease before an outside call; raises LeaseLost when another job took it."""
        if self._store.reclaim(self.conversation_id, self.owner, self.until_ms()) is None:
            raise LeaseLost(self.conversation_id)

    def guard_send(self, message_ids: list[str]) -> None:
        """The conditional write right before sending: still ours, and these client messages are being
        answered (a job that takes the conversation over later leaves them out of its batch)."""
        if not self._store.mark_sending(self.conversation_id, self.owner, message_ids, self.until_ms()):
            raise LeaseLost(self.conversation_id)


@dataclass(frozen=True)
class ConversationDoor:
    """Takes a conversation's lease for a message that is not a reply (a first message, an appointment
    confirmation or reminder) and gives it back, handing any client messages that came meanwhile to the
    reactive flow."""

    conversations: Conversations
    flushes: FlushScheduler
    seconds: Callable[[], float]
    min_gap_seconds: int
    clock: Callable[[], float] = timing.now

    def take(self, conversation_id: str, lead_id: int, contact_id: int, owner_prefix: str) -> Lease:
        """The lease, when no batch is in flight and the last delivery is `min_gap_seconds` old; raises
        ConversationBusy otherwise."""
        owner = f"{owner_prefix}-{uuid.uuid4().hex}"
        lease = Lease(self.conversations, conversation_id, owner, self.seconds, self.clock)
        free_after = int(self.clock()) - self.min_gap_seconds
        if (
            self.conversations.acquire(conversation_id, lead_id, contact_id, owner, lease.until_ms(), free_after)
            is None
        ):
            raise ConversationBusy(conversation_id)
        return lease

    @contextmanager
    def visit(self, conversation_id: str, lead_id: int, contact_id: int, owner_prefix: str) -> Iterator[Visit]:
        """Hold the conversation's lease for the block and give it back however the block ends, with the
        message the block delivered as the assistant's turn (raises ConversationBusy)."""
        visit = Visit(self.take(conversation_id, lead_id, contact_id, owner_prefix))
        try:
            yield visit
        finally:
            self.give_back(visit.lease, visit.turns, visit.delivered_at)

    def give_back(self, lease: Lease, turns: list[Turn], delivered_at: int | None) -> None:
        """Record the turns, release the lease, and schedule the reactive flow for a buffer that formed."""
        now = int(self.clock())
        after = self.conversations.finish(lease.conversation_id, lease.owner, turns, delivered_at, now)
        if after is not None and after.buffer:  # the client wrote meanwhile: the reactive flow answers
            self.flushes.flush_later(after.conversation_id, after.seq, max(self.min_gap_seconds, 1))

    def deliver(self, delivery: Delivery, message: Outgoing, owner_prefix: str) -> int:
        """Send one message that answers no client message (a confirmation, a reminder, n8n's message):
        take the lease, send it once through `delivery`, record it as the assistant's turn and give the
        lease back, also when the send fails. Returns when it was delivered; raises ConversationBusy or
        what Delivery.send raises (OutgoingStopped, TemplateNotConfigured, ...)."""
        with self.visit(message.conversation_id, message.lead_id, message.contact_id, owner_prefix) as visit:
            return visit.delivered(message, delivery.send(message, visit.lease, []))


class Visit:
    """A job's hold on a conversation (`ConversationDoor.visit`): its lease, and what it delivered."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.turns: list[Turn] = []
        self.delivered_at: int | None = None

    def delivered(self, message: Outgoing, at: int) -> int:
        """Record that `message` went out at `at` (returned): it becomes the assistant's turn."""
        self.turns = [Turn(role="assistant", text=message.described, at=at)]
        self.delivered_at = at
        return at
