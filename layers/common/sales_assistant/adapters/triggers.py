"""Proactive triggers in DynamoDB: one item per lead and kind; a GSI by status and due time lists the
deferred ones (the sweep, GET /triggers?status=deferred)."""

from __future__ import annotations

from typing import Any

from sales_assistant.adapters.aws import all_items, applied, dynamodb_table, plain, storable
from sales_assistant.models.queue import TriggerDue
from sales_assistant.models.trigger import Trigger, TriggerStatus, capped_data, trigger_id
from sales_assistant.observability import logger

MAX_MERGE_ATTEMPTS = 5
TTL_SECONDS = 90 * 86400


class DynamoTriggerRepository:
    """Triggers, written with a version number so that concurrent repeats merge their data safely."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def register(self, request: TriggerDue, now: int) -> tuple[Trigger, bool]:
        """The lead's trigger of this kind, created (True) or with the request's data and source added (the
        merged data stays within MAX_DATA_BYTES: keys that do not fit are dropped, the first ones kept)."""
        key = trigger_id(request.lead_id, request.trigger)
        for _ in range(MAX_MERGE_ATTEMPTS):
            item = self._table.get_item(Key={"trigger_id": key}, ConsistentRead=True).get("Item")
            if item is None:
                trigger = Trigger(
                    trigger_id=key,
                    lead_id=request.lead_id,
                    kind=request.trigger,
                    data=request.data,
                    sources=[request.source],
                    created_at=now,
                    lead_created_at=request.lead_created_at or now,
                )
                if self._put(trigger, "attribute_not_exists(trigger_id)", {}):
                    return trigger, True
                continue
            current = Trigger.model_validate(plain(item))
            data, dropped = capped_data(current.data, request.data)
            if dropped:
                logger.warning(
                    "trigger data at its bound: new keys dropped",
                    extra={"lead_id": request.lead_id, "dropped": dropped},
                )
            if request.source in current.sources and data == current.data:
                return current, False  # a plain repeat (or nothing more fits): nothing to add
            merged = current.model_copy(
                update={
                    "data": data,
                    "sources": sorted({*current.sources, request.source}),
                    "version": current.version + 1,
                }
            )
            if self._put(merged, "version = :seen", {":seen": current.version}):
                return merged, False
        raise RuntimeError(f"trigger {key} kept changing")

    def update(self, trigger_id: str, status: TriggerStatus, **changes: Any) -> None:
        """Move a trigger to `status` (with its reason, due time, salesperson, sent time)."""
        values = {"status": status, **changes}
        names = {f"#f{index}": name for index, name in enumerate(values)}
        self._table.update_item(
            Key={"trigger_id": trigger_id},
            UpdateExpression="SET "
            + ", ".join(f"#f{index} = :v{index}" for index in range(len(values)))
            + " ADD version :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                **{f":v{index}": value for index, value in enumerate(values.values())},
                ":one": 1,
            },
        )

    def with_status(self, status: TriggerStatus, due_before: int | None = None) -> list[Trigger]:
        """Triggers in `status` (due by `due_before`, when given), soonest first."""
        condition = "#status = :status" + (" AND due_at <= :due" if due_before is not None else "")
        values: dict[str, Any] = {":status": status}
        if due_before is not None:
            values[":due"] = due_before
        items = all_items(
            self._table.query,
            IndexName="by_status",
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        return [Trigger.model_validate(plain(item)) for item in items]

    def _put(self, trigger: Trigger, condition: str, values: dict[str, Any]) -> bool:
        item = storable(trigger.model_dump(mode="json", exclude_none=True))
        item["expires_at"] = trigger.created_at + TTL_SECONDS
        extra = {"ExpressionAttributeValues": values} if values else {}
        return applied(lambda: self._table.put_item(Item=item, ConditionExpression=condition, **extra))
