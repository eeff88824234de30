"""Kommo's bulk calls, shared by the flows a Lambda runs at once (the records of one SQS batch).

Kommo lets many leads share one request: `PATCH /api/v4/leads` (up to 250), `POST /api/v2/salesbot/run`
(up to 100), `POST /api/v4/leads/notes`, `GET /api/v4/leads?filter[id][]=...`. Under a backlog every
Kommo call waits for its rate-limit slot; `Coalescer` turns that wait into a gathering window. The
first caller of a kind opens a group and waits for the slot; calls of the same kind that come
meanwhile join the group; when the slot comes the group closes and goes out as one request, and each
caller gets its own answer (or its own error). Nobody waits longer than for a slot of their own, and a
lone call goes out as the plain single call.

What stays true, per lead:
- order: a call for a lead that already has a call waiting or on its way waits for that one's answer
  before it joins a group, so one lead's calls never share a request and reach Kommo in the order made;
- errors: a request that Kommo refuses for some of its leads (400 with `validation-errors` naming their
  positions) fails those callers only and is sent again without them; a refusal that names no position
  (or a 404) is retried one call per lead, so each caller gets the answer its own call would get; any
  other failure (timeout, 5xx, 429 after the retries) reaches every caller of the group, exactly as if
  each had made its call alone. Salesbot runs are the exception: a refused run request is never sent
  again in any form (Kommo may have started some of its runs), every caller learns the outcome is
  unknown, and delivery waits for each run's echo.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sales_assistant.observability import count

Item = TypeVar("Item")


@dataclass
class _Ticket(Generic[Item]):
    """One caller's call, waiting in a group for its answer."""

    key: Hashable
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Any = None

    def settle(self, outcome: Any) -> None:
        self.outcome = outcome
        self.done.set()

    def answer(self) -> Any:
        self.done.wait()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@dataclass
class _Group(Generic[Item]):
    tickets: list[_Ticket[Item]]


class Coalescer(Generic[Item]):
    """Concurrent calls of one kind share one request, up to `size` calls.

    `send(items)` makes the request (its first try on the slot the group waited for) and returns one
    outcome per item, in order: the item's answer, or the exception its caller raises."""

    def __init__(
        self,
        kind: str,
        size: int,
        wait_for_slot: Callable[[], None],
        send: Callable[[list[Item]], list[Any]],
    ) -> None:
        self._kind = kind
        self._size = size
        self._wait_for_slot = wait_for_slot
        self._send = send
        self._open: list[_Group[Item]] = []
        self._unanswered: dict[Hashable, _Ticket[Item]] = {}  # per lead, its call not answered yet
        self._lock = threading.Lock()

    def call(self, key: Hashable, item: Item) -> Any:
        """Make the call for `item` (`key`: its lead); returns its answer."""
        ticket = _Ticket(key, item)
        while True:
            with self._lock:
                ahead = self._unanswered.get(key)
                if ahead is None:
                    self._unanswered[key] = ticket
                    group = next((group for group in self._open if len(group.tickets) < self._size), None)
                    leads = group is None
                    if group is None:
                        group = _Group([])
                        self._open.append(group)
                    group.tickets.append(ticket)
                    break
            ahead.done.wait()  # this lead's earlier call first
        if leads:
            self._lead(group)
        return ticket.answer()

    def waiting(self) -> int:
        """How many calls are gathered in groups waiting for their slot."""
        with self._lock:
            return sum(len(group.tickets) for group in self._open)

    def _lead(self, group: _Group[Item]) -> None:
        """Wait for the slot while others join, close the group, send it and hand out the answers: every
        caller of the group gets its answer or an error, whatever fails."""
        try:
            self._wait_for_slot()
        except Exception as refused:  # no slot (the limiter's backlog): the whole group is refused
            tickets = self._close(group)
            self._settle(tickets, [refused] * len(tickets))
            return
        tickets = self._close(group)
        try:
            outcomes = self._send([ticket.item for ticket in tickets])
            if len(outcomes) != len(tickets):
                raise RuntimeError(f"Kommo {self._kind}: {len(outcomes)} answers for {len(tickets)} calls")
        except Exception as failed:  # whatever it is, every caller learns it
            outcomes = [failed] * len(tickets)
        self._settle(tickets, outcomes)
        if len(tickets) > 1:  # counted once everyone has an answer
            count("KommoCallsShared", len(tickets) - 1, kind=self._kind)

    def _close(self, group: _Group[Item]) -> list[_Ticket[Item]]:
        """No one joins the group from now on; its calls."""
        with self._lock:
            self._open.remove(group)
            return list(group.tickets)

    def _settle(self, tickets: list[_Ticket[Item]], outcomes: list[Any]) -> None:
        with self._lock:  # answered and forgotten at once: the lead's next call sees both or neither
            for ticket, outcome in zip(tickets, outcomes, strict=True):
                ticket.settle(outcome)
                if self._unanswered.get(ticket.key) is ticket:
                    del self._unanswered[ticket.key]


def refused_positions(problem: dict[str, Any], size: int) -> set[int]:
    """The positions a 400's `validation-errors` name (`request_id`), when they all make sense; else an
    empty set (the refusal cannot be pinned on some of the request's items)."""
    positions: set[int] = set()
    for entry in problem.get("validation-errors") or []:
        request_id = str(entry.get("request_id", "")) if isinstance(entry, dict) else ""
        if not request_id.isdigit() or int(request_id) >= size:
            return set()
        positions.add(int(request_id))
    return positions
