"""Delivery records in the idempotency table (`delivery#<key>`), so that a run is never posted twice."""

from __future__ import annotations

import time
from typing import Any, Literal

from sales_assistant.adapters.aws import applied, dynamodb_table
from sales_assistant.services.delivery import DeliveryRecord


class DynamoDeliveryLog:
    """One item per delivery key, expiring with the other idempotency records."""

    def __init__(self, table_name: str, ttl_seconds: int) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def get(self, key: str) -> DeliveryRecord | None:
        item = self._table.get_item(Key={"id": f"delivery#{key}"}, ConsistentRead=True).get("Item")
        return DeliveryRecord(state=item["state"], at=int(item["at"])) if item else None

    def start_run(self, key: str, at: int) -> bool:
        """Record that the run is about to be posted; False when an attempt is already recorded."""
        return applied(
            lambda: self._table.put_item(
                Item=self._item(key, "run_attempted", at), ConditionExpression="attribute_not_exists(id)"
            )
        )

    def forget_run(self, key: str) -> None:
        """Kommo refused the run: forget the attempt so that a retry may post it."""
        self._table.delete_item(Key={"id": f"delivery#{key}"})

    def finish(self, key: str, state: Literal["delivered", "unconfirmed"], at: int) -> None:
        self._table.put_item(Item=self._item(key, state, at))

    def _item(self, key: str, state: str, at: int) -> dict[str, Any]:
        return {"id": f"delivery#{key}", "state": state, "at": at, "expiration": int(time.time()) + self._ttl_seconds}
