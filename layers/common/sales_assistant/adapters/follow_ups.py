"""Follow-up records in DynamoDB (FollowUpsTable): one item per lead, written over the version read; a GSI by
status and due time gives the sweep the scheduled follow-ups whose time came."""

from __future__ import annotations

from typing import Any

from sales_assistant.adapters.aws import all_items, applied, dynamodb_table, plain
from sales_assistant.models.follow_up import FollowUp

TTL_SECONDS = 90 * 86400  # a lead's record (its count of follow-ups, a booked meeting) outlives every ladder


class DynamoFollowUps:
    """ports.storage.FollowUpRecords on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def get(self, lead_id: int) -> FollowUp | None:
        item = self._table.get_item(Key={"lead_id": lead_id}, ConsistentRead=True).get("Item")
        return FollowUp.model_validate(plain(item)) if item else None

    def save(self, record: FollowUp, expected_version: int) -> bool:
        """Write the record if the stored one is still at `expected_version` (0: none stored); False otherwise."""
        item = {**record.model_dump(mode="json"), "expires_at": record.changed_at + TTL_SECONDS}
        if expected_version:
            condition: dict[str, Any] = {
                "ConditionExpression": "version = :seen",
                "ExpressionAttributeValues": {":seen": expected_version},
            }
        else:
            condition = {"ConditionExpression": "attribute_not_exists(lead_id)"}
        return applied(lambda: self._table.put_item(Item=item, **condition))

    def due(self, now: int) -> list[FollowUp]:
        """The scheduled follow-ups due by `now`, soonest first."""
        items = all_items(
            self._table.query,
            IndexName="by_status",
            KeyConditionExpression="#status = :scheduled AND due_at <= :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":scheduled": "scheduled", ":now": now},
        )
        return [FollowUp.model_validate(plain(item)) for item in items]
