"""The Kommo rate limit (7 requests/s per integration), shared by every concurrent function.

Each call reserves the next free send slot in one DynamoDB item (`kommo#rate`, `next_at`: the next
free slot, unix ms) and sleeps until it. A reservation is one conditional UpdateItem while the
bucket is busy (`next_at += I` if `now < next_at <= now + max_wait`: the slot is the old `next_at`),
and a second one when it is idle (`next_at <= now`: the slot is now, `next_at = now + I`). A backlog
longer than `max_wait` fails the first condition, which returns the item as it is: the caller is
refused with KommoUnavailable having booked nothing, so refusals never push later callers back and
the bucket stays busy exactly as long as there are callers to serve.

Why no 1-second window at Kommo holds more than `limit` requests, whatever the number of Lambdas:
- slots are at least I apart (a slot handed out is followed by `next_at` = slot + I; an idle slot
  `now` is at or after `next_at`);
- a request reaches Kommo at most L = `lateness` after its slot: the caller sends only if it woke
  within L/2 of its slot (else it gives the slot up and reserves another), and differences in the
  network's delay to Kommo are assumed to stay within the other L/2 (a pooled, warm connection);
- n requests in a window [t, t + 1 s) hold n distinct slots, the first and the last (n - 1)·I apart,
  so (n - 1)·I - L < 1 s, that is n <= ceil((1 s + L) / I).
With I = ceil((1 s + L) / limit) that is at most `limit`. Here L = 100 ms and I = ceil(1100 / 7) =
158 ms: at most 7 requests in any 1-s window, and 1000 / 158 = 6.33 requests/s (90 % of 7) whenever
there is demand. The Lambdas' clocks are assumed to agree within a few ms (NTP). Should Kommo still
answer 429, the client waits and retries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sales_assistant import timing
from sales_assistant.adapters.aws import dynamodb_table, is_condition_failure
from sales_assistant.adapters.kommo.errors import KommoUnavailable

RATE_KEY = "kommo#rate"
MAX_LATE_WAKE_UPS = 5
MAX_RESERVATION_RACES = 10


class SharedRateLimiter:
    """Blocks until this caller may send one request to Kommo."""

    def __init__(
        self,
        table_name: str,
        per_second: float,
        *,
        lateness_seconds: float = 0.1,
        max_wait_seconds: float = 20.0,
        clock: Callable[[], float] = timing.now,
        sleep: Callable[[float], None] = timing.sleep,
    ) -> None:
        self._table_name = table_name
        self._interval_ms = math.ceil((1000 + lateness_seconds * 1000) / per_second)
        self._late_ms = int(lateness_seconds * 1000 / 2)
        self._max_wait_ms = int(max_wait_seconds * 1000)
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        """Reserve a slot and wait for it; raises KommoUnavailable, having booked nothing, when the
        backlog is longer than `max_wait_seconds`.

        A caller that wakes up too late for its slot (a busy machine) gives it up and reserves another,
        so every request leaves within half the lateness allowance of its slot."""
        for _ in range(MAX_LATE_WAKE_UPS):
            slot_ms = self._reserve(self._now_ms())
            wait_ms = slot_ms - self._now_ms()
            if wait_ms > 0:
                self._sleep(wait_ms / 1000)
            if self._now_ms() - slot_ms <= self._late_ms:
                return
        raise KommoUnavailable("woke up too late for every Kommo rate-limit slot: try again later")

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _reserve(self, now_ms: int) -> int:
        table: Any = dynamodb_table(self._table_name)
        latest_ms = now_ms + self._max_wait_ms
        for _ in range(MAX_RESERVATION_RACES):
            try:  # busy bucket (the common case within a flow): take the next slot if it is soon enough
                updated = table.update_item(
                    Key={"pk": RATE_KEY},
                    UpdateExpression="SET next_at = next_at + :interval",
                    ConditionExpression="next_at > :now AND next_at <= :latest",
                    ExpressionAttributeValues={":interval": self._interval_ms, ":now": now_ms, ":latest": latest_ms},
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return int(updated["Attributes"]["next_at"]) - self._interval_ms
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                next_at = _next_at_of_refused(error)
            if next_at is not None and next_at > now_ms:  # busy, but past the bound: refuse, book nothing
                raise KommoUnavailable(f"Kommo rate limit backlog of {next_at - now_ms} ms: try again later")
            try:  # idle bucket: the slot is now
                table.update_item(
                    Key={"pk": RATE_KEY},
                    UpdateExpression="SET next_at = :next",
                    ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                    ExpressionAttributeValues={":next": now_ms + self._interval_ms, ":now": now_ms},
                )
                return now_ms
            except Exception as error:  # another caller took the idle slot first: take the next one
                if not is_condition_failure(error):
                    raise
        raise KommoUnavailable("could not reserve a Kommo rate-limit slot")


def _next_at_of_refused(error: Exception) -> int | None:
    """`next_at` of the bucket as a refused update found it (ReturnValuesOnConditionCheckFailure)."""
    item = getattr(error, "response", {}).get("Item") or {}
    value = item.get("next_at", {}).get("N")
    return int(value) if value is not None else None
