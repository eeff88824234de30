"""Follow-ups: when the assistant spoke last and the client went quiet, the lead gets a short ladder of
follow-ups (FOLLOW_UP_OFFSETS, by default 2 h, 1 day and 3 days after the assistant's message), each inside
the salesperson's hours; follow_up_messages.py sends them.

This module keeps the ladder: one record per lead, so one schedule per lead at a time. A reply the reactive
flow delivered and a first message start one (replacing the one scheduled). Any client message, a
salesperson's message or takeover, the lead won, lost or moved out of FOLLOW_UP_STATUS_IDS, a booked meeting,
an opt-out and the kill switch stop it for good: the flows' hooks say so at once, and the checks right
before each follow-up catch what a hook could not see. A booked meeting also keeps any later ladder from
starting. A lead gets at most FOLLOW_UP_MAX_PER_LEAD follow-ups, whatever the ladders. Every write is
conditional on the version read (as takeover.py), so a stop and a send never lose each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeGuard

from sales_assistant import timing
from sales_assistant.models.follow_up import FollowUp, SentFollowUp
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.kommo_webhook import LeadChange
from sales_assistant.models.trigger import LOST, WON
from sales_assistant.observability import count, logger
from sales_assistant.services.ports.storage import FollowUpRecords

FINAL_REASONS = frozenset({"booked"})  # a lead stopped for these gets no later ladder either
MAX_WRITE_ATTEMPTS = 5
Transition = Callable[[FollowUp | None], FollowUp | None]


class FollowUpsChanging(Exception):
    """The lead's follow-up record kept changing under us; the caller retries later."""


@dataclass(frozen=True)
class LadderConfig:
    offsets: Mapping[str, tuple[int, ...]]  # ladder kind -> seconds after the assistant's message
    max_per_lead: int = 3
    status_ids: frozenset[int] = frozenset()  # the statuses follow-ups go out in (empty: any but won and lost)

    def offsets_for(self, kind: str) -> tuple[int, ...]:
        return tuple(self.offsets.get(kind) or self.offsets.get("default") or ())

    def refuses(self, status_id: int | None) -> str | None:
        """Why a lead in this status gets no follow-up (None: it does)."""
        if status_id in (WON, LOST):
            return "lead_closed"
        if self.status_ids and status_id not in self.status_ids:
            return "status_left"
        return None


class FollowUpLadders:
    """Starts, stops and moves each lead's ladder (ports.flows.FollowUpLadder, for the other flows)."""

    def __init__(self, records: FollowUpRecords, config: LadderConfig, clock: Callable[[], float] = timing.now) -> None:
        self._records = records
        self.config = config
        self._clock = clock

    # ------------------------------------------------------------------ the hooks of the other flows
    def start(self, lead: KommoLead, contact_id: int, at: int, trigger: str | None = None) -> None:
        """The assistant's message of `at` went out to the lead: its ladder starts, unless the lead takes none
        (its status, a booked meeting, FOLLOW_UP_MAX_PER_LEAD reached). `trigger`: what opened the conversation."""
        kind = trigger or "reply"
        offsets = self.config.offsets_for(kind)
        if offsets and self.config.max_per_lead and not self.config.refuses(lead.status_id):
            self._change(lead.id, partial(self._started, lead.id, contact_id, kind, offsets, at))

    def stop(self, lead_id: int | None, reason: str) -> None:
        """Stop the lead's scheduled ladder for good, saying why (a final reason is kept even with none)."""
        stopped = self._change(lead_id, partial(self._stopped, lead_id, reason)) if lead_id is not None else None
        if stopped is not None:
            count("FollowUpsStopped", reason=reason)

    def lead_changed(self, change: LeadChange) -> None:
        """A lead event: a lead moved to a status that takes no follow-ups stops its ladder."""
        reason = self.config.refuses(change.status_id) if change.kind == "status" else None
        if reason:
            self.stop(change.id, reason)

    # ------------------------------------------------------------------ the sending side
    def get(self, lead_id: int) -> FollowUp | None:
        return self._records.get(lead_id)

    def due(self) -> list[FollowUp]:
        """The scheduled follow-ups whose time came, soonest first."""
        return self._records.due(int(self._clock()))

    def defer(self, ladder: FollowUp, due_at: int, reason: str) -> None:
        """The follow-up due now waits until `due_at` (the salesperson's next opening): never dropped."""

        def deferred(current: FollowUp | None) -> FollowUp | None:
            if not _same(current, ladder):
                return None
            return current.model_copy(update={"due_at": due_at, "reason": reason, "changed_at": int(self._clock())})

        self._change(ladder.lead_id, deferred)

    def sent(self, ladder: FollowUp, at: int) -> FollowUp | None:
        """Record that the ladder's follow-up went out at `at`: the next one is scheduled, or the ladder is over.
        A stop that came meanwhile stays: the follow-up is counted, nothing more is scheduled."""

        def recorded(current: FollowUp | None) -> FollowUp | None:
            if current is None or current.anchor_at != ladder.anchor_at:
                return None
            if any(sent.attempt == ladder.attempt for sent in current.sent):
                return None  # recorded by an earlier try
            update = {
                "sent": [*current.sent, SentFollowUp(attempt=ladder.attempt, at=at)],
                "sent_total": current.sent_total + 1,
                "changed_at": at,
            }
            if _same(current, ladder):
                update.update(self._after(current, current.sent_total + 1, at))
            return current.model_copy(update=update)

        return self._change(ladder.lead_id, recorded)

    # ------------------------------------------------------------------ transitions
    def _started(
        self, lead_id: int, contact_id: int, kind: str, offsets: tuple[int, ...], at: int, current: FollowUp | None
    ) -> FollowUp | None:
        sent_total = current.sent_total if current else 0
        if current is not None and (current.reason in FINAL_REASONS or current.anchor_at >= at):
            return None  # a booked lead, or a repeat of the start of this ladder (or of a later one)
        if sent_total >= self.config.max_per_lead:
            return None
        return FollowUp(
            lead_id=lead_id,
            contact_id=contact_id,
            kind=kind,
            status="scheduled",
            attempt=1,
            offsets=list(offsets),
            anchor_at=at,
            due_at=at + offsets[0],
            changed_at=int(self._clock()),
            sent_total=sent_total,
            version=current.version if current else 0,
        )

    def _stopped(self, lead_id: int, reason: str, current: FollowUp | None) -> FollowUp | None:
        now, final = int(self._clock()), reason in FINAL_REASONS
        if current is None:  # a final reason is kept with no ladder: a later one must not start
            return FollowUp(lead_id=lead_id, status="stopped", reason=reason, changed_at=now) if final else None
        if current.status == "scheduled" or (final and current.reason != reason):
            return current.model_copy(update={"status": "stopped", "reason": reason, "changed_at": now})
        return None

    def _after(self, current: FollowUp, sent_total: int, at: int) -> dict[str, object]:
        """What follows a follow-up that went out: the next one and when it is due, or the end of the ladder.
        The next one is due its offset after the assistant's message, and never sooner after this one than
        the ladder's own gap (a follow-up deferred to the morning does not bring the next one closer)."""
        attempt, offsets = current.attempt + 1, current.offsets
        if attempt > len(offsets):
            return {"status": "finished", "reason": "ladder_done"}
        if sent_total >= self.config.max_per_lead:
            return {"status": "finished", "reason": "max_reached"}
        gap = offsets[attempt - 1] - offsets[attempt - 2]
        due_at = max(current.anchor_at + offsets[attempt - 1], at + gap)
        return {"attempt": attempt, "due_at": due_at, "reason": ""}

    def _change(self, lead_id: int, transition: Transition) -> FollowUp | None:
        """Apply `transition` to the stored record with optimistic concurrency (re-read on conflict); returns
        the record written, or None when there was nothing to do."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._records.get(lead_id)
            updated = transition(current)
            if updated is None:
                return None
            expected = current.version if current else 0
            updated = updated.model_copy(update={"version": expected + 1})
            if self._records.save(updated, expected):
                logger.info(
                    "follow-ups changed",
                    extra={
                        "lead_id": lead_id,
                        "status": updated.status,
                        "attempt": updated.attempt,
                        "reason": updated.reason,
                    },
                )
                return updated
        raise FollowUpsChanging(f"follow-ups of lead {lead_id} kept changing")


def _same(current: FollowUp | None, ladder: FollowUp) -> TypeGuard[FollowUp]:
    """`current` is still the ladder scheduled at `ladder`'s attempt."""
    return (
        current is not None
        and current.status == "scheduled"
        and (current.anchor_at, current.attempt) == (ladder.anchor_at, ladder.attempt)
    )
