"""The Kommo rate limit (7 requests/s per integration), shared by every concurrent function.

Each call reserves the next free send slot in one DynamoDB item (`kommo#rate`, `next_at` in ms);
the caller then sleeps until its slot, and gives the slot up for another if it woke up more than
half the jitter late. A request can still reach Kommo up to `jitter` late (network), so slots are
spaced (1 s + jitter) / (limit - 1) apart: even with one request late by the full jitter, no
1-second window at Kommo holds more than `limit` requests, whatever the number of Lambdas. A
reservation is one conditional UpdateItem when calls are close together (two when the bucket was idle).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sales_assistant.adapters.aws import dynamodb_table, is_condition_failure
from sales_assistant.adapters.kommo.errors import KommoUnavailable

RATE_KEY = "kommo#rate"
MAX_LATE_WAKE_UPS = 5


class SharedRateLimiter:
    """Blocks until this caller may send one request to Kommo."""

    def __init__(
        self,
        table_name: str,
        per_second: float,
        *,
        jitter_seconds: float = 0.1,
        max_wait_seconds: float = 20.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table_name = table_name
        slots_per_window = max(per_second - 1, 1)
        self._interval_ms = int((1000 + jitter_seconds * 1000) / slots_per_window) + 1
        self._late_ms = int(jitter_seconds * 1000 / 2)
        self._max_wait_ms = int(max_wait_seconds * 1000)
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        """Reserve a slot and wait for it; raises KommoUnavailable when the backlog is too long.

        A caller that wakes up too late for its slot (a busy machine) gives it up and reserves another,
        so every request leaves within half the jitter allowance of its slot."""
        for _ in range(MAX_LATE_WAKE_UPS):
            slot_ms = self._reserve(int(self._clock() * 1000))
            wait_ms = slot_ms - int(self._clock() * 1000)
            if wait_ms > self._max_wait_ms:
                raise KommoUnavailable(f"Kommo rate limit backlog of {wait_ms} ms: try again later")
            if wait_ms > 0:
                self._sleep(wait_ms / 1000)
            if int(self._clock() * 1000) - slot_ms <= self._late_ms:
                return
        raise KommoUnavailable("woke up too late for every Kommo rate-limit slot: try again later")

    def _reserve(self, now_ms: int) -> int:
        table: Any = dynamodb_table(self._table_name)
        for _ in range(10):
            try:  # busy bucket (the common case within a flow): take the next slot
                updated = table.update_item(
                    Key={"pk": RATE_KEY},
                    UpdateExpression="SET next_at = next_at + :interval",
                    ConditionExpression="next_at > :now",
                    ExpressionAttributeValues={":interval": self._interval_ms, ":now": now_ms},
                    ReturnValues="UPDATED_NEW",
                )
                return int(updated["Attributes"]["next_at"]) - self._interval_ms
            except Exception as error:
                if not is_condition_failure(error):
                    raise
            try:  # idle bucket: the slot is now
                table.update_item(
                    Key={"pk": RATE_KEY},
                    UpdateExpression="SET next_at = :next",
                    ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                    ExpressionAttributeValues={":next": now_ms + self._interval_ms, ":now": now_ms},
                )
                return now_ms
            except Exception as error:
                if not is_condition_failure(error):
                    raise
        raise KommoUnavailable("could not reserve a Kommo rate-limit slot")
