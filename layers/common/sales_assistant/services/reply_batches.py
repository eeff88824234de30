"""The reactive flow's batches: which client messages one flush job answers, and how the job ends.

`collect` claims the conversation's buffer under a lease (one batch in flight per conversation; messages
arriving meanwhile form the next batch); `record` writes the batch's turns, releases the lease and schedules
the next batch if one formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sales_assistant import timing
from sales_assistant.models.conversation import Conversation, batch_id
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Turn
from sales_assistant.observability import count
from sales_assistant.services.answers import as_text
from sales_assistant.services.leases import Lease
from sales_assistant.services.ports.queues import FlushScheduler
from sales_assistant.services.ports.storage import Conversations

MAX_DELAY = 900  # SQS DelaySeconds at most


@dataclass(frozen=True)
class Batch:
    """The client messages one job answers, in order, with the conversation and the job's lease."""

    conversation: Conversation
    messages: list[ChatMessage]
    lease: Lease

    @property
    def key(self) -> str:
        """The batch's id: what makes its answer, delivery and notes once-only."""
        return batch_id(self.messages)

    @property
    def contact_id(self) -> int:
        return self.messages[-1].contact_id

    @property
    def client_turns(self) -> list[Turn]:
        return [Turn(role="client", text=as_text(message), at=message.created_at) for message in self.messages]


@dataclass(frozen=True)
class BatchPacing:
    quiet_seconds: int  # how long a conversation is quiet before its buffer is answered
    min_gap_seconds: int  # between two deliveries to one lead (the Salesbot reads one text at a time)


class ReplyBatches:
    """Claims and records the reactive flow's batches."""

    def __init__(
        self,
        conversations: Conversations,
        flushes: FlushScheduler,
        pacing: BatchPacing,
        lease_seconds: Callable[[], float],
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._conversations = conversations
        self._flushes = flushes
        self._pacing = pacing
        self._lease_seconds = lease_seconds
        self._clock = clock

    def collect(self, conversation_id: str, seq: int, job_id: str) -> Batch | str:
        """The batch this job answers under its lease; or why there is nothing to do (nothing, superseded,
        busy, waiting_gap)."""
        now = self._clock()
        lease = Lease(self._conversations, conversation_id, job_id, self._lease_seconds, self._clock)
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return "nothing"
        if conversation.lease_owner == job_id:  # this job ran before and did not finish: take its batch back
            reclaimed = self._conversations.reclaim(conversation_id, job_id, lease.until_ms())
            return Batch(reclaimed, _ordered(reclaimed.in_flight), lease) if reclaimed else "superseded"
        if conversation.seq != seq:
            return "superseded"  # a newer message came: its own flush job answers the whole buffer
        if not conversation.buffer:
            return "nothing"
        waiting = self._wait_for_turn(conversation, now)
        if waiting:
            return waiting
        claimed = self._conversations.claim(conversation_id, seq, job_id, lease.until_ms(), int(now * 1000))
        if claimed is None:
            return "superseded"
        # Messages that a job which lost its lease was already answering are not answered again.
        batch = [message for message in claimed.in_flight if message.id not in claimed.answered_ids]
        return Batch(claimed, _ordered(batch), lease)

    def record(self, batch: Batch, turns: list[Turn], delivered_at: int | None) -> None:
        """Record the batch's turns, release the lease and schedule the next batch if one formed."""
        now = int(self._clock())
        conversation_id = batch.conversation.conversation_id
        after = self._conversations.finish(conversation_id, batch.lease.owner, turns, delivered_at, now)
        if after is None:  # the lease ran out after the answer went out: keep the turns, the new owner goes on
            count("LeasesLost")
            self._conversations.add_turns(conversation_id, turns, now)
            return
        if after.buffer:  # messages that came while this batch was in flight: the next batch
            delay = max(self._pacing.quiet_seconds, self._pacing.min_gap_seconds if delivered_at else 0)
            self._flushes.flush_later(after.conversation_id, after.seq, delay)

    def _wait_for_turn(self, conversation: Conversation, now: float) -> str | None:
        """Why the buffer must wait (a batch in flight, the gap after the last delivery), with its flush job
        scheduled for when it may go; None when it may be claimed now."""
        conversation_id, seq = conversation.conversation_id, conversation.seq
        if conversation.lease_owner and conversation.lease_until_ms > now * 1000:
            # Another batch is in flight: look again when its lease ends, so that this buffer is answered
            # even if that job dies before it can schedule the next batch.
            wait = int(conversation.lease_until_ms / 1000 - now) + 1
            self._flushes.flush_later(conversation_id, seq, min(max(wait, self._pacing.quiet_seconds), MAX_DELAY))
            return "busy"
        gap = conversation.last_delivery_at + self._pacing.min_gap_seconds - now
        if gap > 0:  # the Salesbot may not have read the previous reply yet
            self._flushes.flush_later(conversation_id, seq, int(gap) + 1)
            return "waiting_gap"
        return None


def _ordered(messages: list[ChatMessage]) -> list[ChatMessage]:
    return sorted(messages, key=lambda message: (message.created_at, message.id))
