"""A circuit breaker per dependency (Kommo, n8n), shared by every concurrent function through one
DynamoDB item (`breaker#<name>`), as the rate limiter is.

- Closed: calls go out. A failure that says the dependency is down (a 5xx, a time-out, no connection)
  adds one to `failures`; a success resets it.
- Open: after `threshold` failures in a row, no call goes out until `open_until`: `check()` raises
  DependencyDown with that time, so a queue record is given back at once for then, without waiting on
  time-outs, burning rate-limit slots or billing Lambda time.
- Half-open: from `open_until`, one caller at a time calls out (a conditional write claims the probe
  for `probe_seconds`). A success closes the breaker; a failure opens it again, for twice as long each
  time, up to `max_open_seconds`.

A process reads the item at most once every `cache_seconds` while the breaker is closed (so a healthy
dependency costs one read a second, not one per call); every change is written at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sales_assistant import timing
from sales_assistant.adapters.aws import dynamodb_table, is_condition_failure
from sales_assistant.errors import DependencyDown
from sales_assistant.observability import count, logger


class Breaker:
    """One dependency's breaker."""

    def __init__(
        self,
        table_name: str,
        dependency: str,
        *,
        threshold: int = 5,
        open_seconds: int = 30,
        max_open_seconds: int = 300,
        probe_seconds: int = 30,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._table_name = table_name
        self.dependency = dependency
        self._key = {"pk": f"breaker#{dependency}"}
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._max_open_seconds = max_open_seconds
        self._probe_seconds = probe_seconds
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, Any] = {}
        self._seen_at = float("-inf")

    def check(self) -> None:
        """Return when a call may go out now; raise DependencyDown when the breaker is open (or another
        caller is probing it)."""
        state = self._state()
        open_until = float(state.get("open_until", 0))
        if not open_until:
            return
        now = self._clock()
        if now < open_until:
            raise DependencyDown(self.dependency, open_until)
        if not self._claim_probe(now):
            raise DependencyDown(self.dependency, now + self._probe_seconds)

    def succeeded(self) -> None:
        """The call went through: the breaker closes (one write, only when it was not closed and clean)."""
        state = self._state()
        if not state.get("failures") and not state.get("open_until"):
            return
        self._remember(
            dynamodb_table(self._table_name).update_item(
                Key=self._key,
                UpdateExpression=(
                    "SET failures = :zero, open_until = :zero, open_seconds = :zero REMOVE probe_until, opened_at"
                ),
                ExpressionAttributeValues={":zero": 0},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        )
        if state.get("open_until"):
            count("BreakerClosed", dependency=self.dependency)
            logger.info("breaker closed: the dependency answers again", extra={"dependency": self.dependency})

    def failed(self) -> None:
        """The call failed because the dependency is down: one more failure; open at the threshold."""
        table = dynamodb_table(self._table_name)
        state = table.update_item(
            Key=self._key,
            UpdateExpression="ADD failures :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        if int(state["failures"]) < self._threshold:
            self._remember(state)
            return
        now = self._clock()
        if float(state.get("open_until", 0)) > now:  # opened already by another caller
            self._remember(state)
            return
        last = int(state.get("open_seconds", 0))
        period = min(2 * last, self._max_open_seconds) if last else self._open_seconds
        try:
            state = table.update_item(
                Key=self._key,
                UpdateExpression=(
                    "SET open_until = :until, open_seconds = :period, opened_at = if_not_exists(opened_at, :now) "
                    "REMOVE probe_until"
                ),
                ConditionExpression="attribute_not_exists(open_until) OR open_until <= :now",
                ExpressionAttributeValues={":until": int(now + period), ":period": period, ":now": int(now)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except Exception as error:
            if not is_condition_failure(error):
                raise
            return  # another caller opened it at the same moment
        self._remember(state)
        count("BreakerOpened", dependency=self.dependency)
        logger.warning("breaker open: calls wait", extra={"dependency": self.dependency, "seconds": period})

    def status(self) -> dict[str, Any]:
        """Open or closed, failures in a row, since when it is open and when it is tried again (unix s)."""
        state = self._state(fresh=True)
        open_until = int(state.get("open_until", 0))
        return {
            "open": bool(open_until),
            "failures": int(state.get("failures", 0)),
            "open_since": int(state.get("opened_at", 0)),
            "retry_at": open_until,
        }

    def _claim_probe(self, now: float) -> bool:
        """Become the one caller that tries the dependency while the breaker is half-open."""
        try:
            state = dynamodb_table(self._table_name).update_item(
                Key=self._key,
                UpdateExpression="SET probe_until = :until",
                ConditionExpression="attribute_not_exists(probe_until) OR probe_until <= :now",
                ExpressionAttributeValues={":until": int(now + self._probe_seconds), ":now": int(now)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        self._remember(state)
        return True

    def _state(self, fresh: bool = False) -> dict[str, Any]:
        with self._lock:
            if fresh or self._seen.get("open_until") or self._clock() - self._seen_at >= self._cache_seconds:
                item = dynamodb_table(self._table_name).get_item(Key=self._key, ConsistentRead=True).get("Item")
                self._seen, self._seen_at = dict(item or {}), self._clock()
            return self._seen

    def _remember(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._seen, self._seen_at = dict(state), self._clock()
