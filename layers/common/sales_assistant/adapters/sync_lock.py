"""One salespeople sync at a time across every Lambda, and an on-demand one at most every few seconds: one
conditionally written item of the Kommo table, so POST /vendors/sync in a loop cannot drain Kommo's shared
7 requests per second. The schedule's run takes the same lock (it skips while a run is going) but is not
held to the interval: it runs every 15 minutes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sales_assistant import timing
from sales_assistant.adapters.aws import dynamodb_table, is_condition_failure, plain
from sales_assistant.errors import AppError

LOCK_KEY = "vendor-sync#lock"


class SyncBusy(AppError):
    """A sync is running, or an on-demand one ran too recently: try again in `retry_after_seconds`."""

    status = 429

    def __init__(self, code: str, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, code=code, details={"retry_after_seconds": retry_after_seconds})


class DynamoSyncLock:
    """The lock item: `run_id` of the last run, `running_until` (its end at the latest: a run that dies
    frees the lock then) and `next_on_demand_at` (when an on-demand run may start again)."""

    def __init__(self, table_name: str, min_interval_seconds: int, clock: Callable[[], float] = timing.now) -> None:
        self._table_name = table_name
        self._min_interval = min_interval_seconds
        self._clock = clock

    def acquire(self, *, on_demand: bool, longest_run_seconds: float) -> str:
        """Take the lock for a run that ends within `longest_run_seconds`; its run id, or SyncBusy."""
        now = int(self._clock())
        run_id = uuid.uuid4().hex
        try:
            dynamodb_table(self._table_name).update_item(
                Key={"pk": LOCK_KEY},
                UpdateExpression="SET run_id = :run, running_until = :until, "
                "next_on_demand_at = " + (":next" if on_demand else "if_not_exists(next_on_demand_at, :now)"),
                ConditionExpression="attribute_not_exists(pk) OR (running_until <= :now"
                + (" AND next_on_demand_at <= :now)" if on_demand else ")"),
                ExpressionAttributeValues={
                    ":run": run_id,
                    ":now": now,
                    ":until": now + int(longest_run_seconds) + 1,
                    **({":next": now + self._min_interval} if on_demand else {}),
                },
            )
        except Exception as error:
            if is_condition_failure(error):
                raise self._busy(now) from None
            raise
        return run_id

    def release(self, run_id: str) -> None:
        """The run ended: the next one may start (the interval still holds for on-demand runs)."""
        try:
            dynamodb_table(self._table_name).update_item(
                Key={"pk": LOCK_KEY},
                UpdateExpression="SET running_until = :now",
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": run_id, ":now": int(self._clock())},
            )
        except Exception as error:
            if not is_condition_failure(error):  # the lock outlived by this run was taken by another: theirs now
                raise

    def _busy(self, now: int) -> SyncBusy:
        item = plain(dynamodb_table(self._table_name).get_item(Key={"pk": LOCK_KEY}, ConsistentRead=True)["Item"])
        wait = max(item["running_until"] - now, item["next_on_demand_at"] - now, 1)
        if item["running_until"] > now:
            return SyncBusy("sync_running", f"a salesperson sync is running; try again in {wait} s", wait)
        why = f"salespeople were synced on demand less than {self._min_interval} s ago; try again in {wait} s"
        return SyncBusy("sync_too_soon", why, wait)
