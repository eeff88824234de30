"""Bot state per contact in DynamoDB, written with optimistic concurrency (a version number)."""

from __future__ import annotations

from typing import Any

from sales_assistant.adapters.aws import all_items, dynamodb_table, is_condition_failure, plain
from sales_assistant.models.bot_state import BotState, BotStatus
from sales_assistant.services.ports.storage import StateConflict


class DynamoBotStateRepository:
    """One item per contact; a GSI by status lists the paused ones."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def get(self, contact_id: int) -> BotState | None:
        item = self._table.get_item(Key={"contact_id": contact_id}, ConsistentRead=True).get("Item")
        return BotState.model_validate(plain(item)) if item else None

    def save(self, state: BotState, expected_version: int) -> None:
        """Write `state` (its version must be expected_version + 1) unless someone wrote in between."""
        item = {key: value for key, value in state.model_dump(mode="json").items() if value is not None}
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(contact_id) OR version = :expected",
                ExpressionAttributeValues={":expected": expected_version},
            )
        except Exception as error:
            if is_condition_failure(error):
                raise StateConflict(f"bot state of contact {state.contact_id} changed meanwhile") from None
            raise

    def with_status(self, status: BotStatus) -> list[BotState]:
        """Every contact in `status`, oldest change first."""
        items = all_items(
            self._table.query,
            IndexName="by_status",
            KeyConditionExpression="#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": status.value},
        )
        return [BotState.model_validate(plain(item)) for item in items]
