"""The sales funnel in DynamoDB (FunnelTable). Each count (an event of one or more counters) is one
TransactWriteItems of three writes, whatever its number of counters:
- a once marker (`once#<once_key>`), put only where absent, so a replayed webhook or queue record counts nothing
  (it expires after ONCE_TTL_SECONDS, long after any redrive);
- one ADD of all the event's counters on the day item (pk `day#YYYY-MM-DD`, sk `<salesperson_id>#<trigger>`),
  one attribute per counter;
- the same ADD on the month's total item (pk `month#YYYY-MM`, sk `total`).
A count first reads its once marker (a read costs a fifth of a write): most of a conversation's counts are
repeats (the lead in, the lead replied) and stop there, without a transaction billed for nothing. Two
transactions on the same item at once (the month's total, under a busy minute) cancel one of them: it is tried
again, up to CONFLICT_ATTEMPTS times.
The report reads the day items one Query per day (pk), a bounded range: never a scan."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from typing import Any

from sales_assistant import timing
from sales_assistant.adapters.aws import all_items, dynamodb_client, dynamodb_table, plain
from sales_assistant.models.funnel import FunnelEvent, FunnelRow

ONCE_TTL_SECONDS = 400 * 86400  # a lead counted once stays counted for more than a year of reports
KEYS = ("pk", "sk")
CONFLICT_ATTEMPTS = 4


class DynamoFunnelCounts:
    """ports.storage.FunnelCounts on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def count(self, event: FunnelEvent) -> bool:
        counters = list(event.counters.items())
        adding = {  # the counters' names as placeholders: never read as words of the expression
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :a{i}" for i in range(len(counters))),
            "ExpressionAttributeNames": {f"#c{i}": name for i, (name, _) in enumerate(counters)},
            "ExpressionAttributeValues": {f":a{i}": {"N": str(amount)} for i, (_, amount) in enumerate(counters)},
        }
        day_key = {"pk": {"S": f"day#{event.day.isoformat()}"}, "sk": {"S": f"{event.salesperson_id}#{event.trigger}"}}
        month_key = {"pk": {"S": f"month#{event.day.isoformat()[:7]}"}, "sk": {"S": "total"}}
        marker_key = {"pk": {"S": f"once#{event.once_key}"}, "sk": {"S": "once"}}
        if self._counted(marker_key):
            return False
        marker = {**marker_key, "expires_at": {"N": str(int(timing.now()) + ONCE_TTL_SECONDS)}}
        items = [
            {"Put": {"TableName": self._table_name, "Item": marker, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": self._table_name, "Key": day_key, **adding}},
            {"Update": {"TableName": self._table_name, "Key": month_key, **adding}},
        ]
        return self._transact(items)

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """True when written, False when the once marker was there; a conflict is tried again."""
        attempt = 1
        while True:
            try:
                dynamodb_client().transact_write_items(TransactItems=items)
                return True
            except Exception as error:
                reasons = getattr(error, "response", {}).get("CancellationReasons") or []
                codes = [reason.get("Code") for reason in reasons]
                if codes[:1] == ["ConditionalCheckFailed"]:
                    return False
                if "TransactionConflict" not in codes or attempt == CONFLICT_ATTEMPTS:
                    raise
            time.sleep(random.uniform(0.02, 0.1) * attempt)  # noqa: S311 - jitter, not a secret
            attempt += 1

    def _counted(self, marker_key: dict[str, Any]) -> bool:
        """Whether the once marker is there (an eventually consistent read: the transaction's condition decides)."""
        answer = dynamodb_client().get_item(TableName=self._table_name, Key=marker_key, ProjectionExpression="pk")
        return "Item" in answer

    def days(self, first: date, last: date) -> list[FunnelRow]:
        rows: list[FunnelRow] = []
        day = first
        while day <= last:
            rows.extend(self._day(day))
            day += timedelta(days=1)
        return rows

    def month_totals(self, month: str) -> dict[str, int]:
        item = dynamodb_table(self._table_name).get_item(Key={"pk": f"month#{month}", "sk": "total"}).get("Item")
        return _counters(item or {})

    def _day(self, day: date) -> list[FunnelRow]:
        """One Query: a day holds one item per salesperson and trigger kind."""
        items = all_items(
            dynamodb_table(self._table_name).query,
            KeyConditionExpression="pk = :day",
            ExpressionAttributeValues={":day": f"day#{day.isoformat()}"},
        )
        return [_row(day, item) for item in items]


def _row(day: date, item: dict[str, Any]) -> FunnelRow:
    salesperson, _, trigger = str(item["sk"]).partition("#")
    return FunnelRow(day=day, salesperson_id=int(salesperson), trigger=trigger, counters=_counters(item))


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {name: int(value) for name, value in plain(item).items() if name not in KEYS}
