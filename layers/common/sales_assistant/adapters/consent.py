"""Consent records (`consent#<contact id>` in the Kommo table, never expiring) and the erasure of what the other
tables keep about a contact."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, get_args

from sales_assistant.adapters.aws import all_items, applied, dynamodb_table, plain
from sales_assistant.models.consent import ConsentRecord
from sales_assistant.models.conversation import Conversation
from sales_assistant.models.trigger import TriggerKind, trigger_id

CONSENT_PREFIX = "consent#"


class DynamoConsentRecords:
    """One item per contact who ever opted out: no TTL, an opt-out must outlive every conversation."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def get(self, contact_id: int) -> ConsentRecord | None:
        item = dynamodb_table(self._table_name).get_item(Key=_key(contact_id), ConsistentRead=True).get("Item")
        return ConsentRecord.model_validate(plain(item)) if item else None

    def save(self, record: ConsentRecord, replacing: ConsentRecord | None) -> bool:
        """Write `record` if the item is still `replacing` (the message on record is the same), or absent."""
        item = {**_key(record.contact_id), **record.model_dump(exclude_none=True)}
        table = dynamodb_table(self._table_name)
        if replacing is None:
            return applied(lambda: table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)"))
        return applied(
            lambda: table.put_item(
                Item=item,
                ConditionExpression="message_id = :replaced",
                ExpressionAttributeValues={":replaced": replacing.message_id},
            )
        )

    def delete(self, contact_id: int) -> None:
        dynamodb_table(self._table_name).delete_item(Key=_key(contact_id))


class DynamoContactData:
    """A contact's conversations, their leads' triggers, their bot state and the cached answers, to erase."""

    def __init__(
        self,
        *,
        conversations_table: str,
        triggers_table: str,
        bot_state_table: str,
        idempotency_table: str,
        follow_ups_table: str = "",
    ):
        self._conversations = conversations_table
        self._triggers = triggers_table
        self._bot_states = bot_state_table
        self._idempotency = idempotency_table
        self._follow_ups = follow_ups_table

    def conversations_of(self, contact_id: int, lead_ids: Iterable[int]) -> list[Conversation]:
        """The chats the contact wrote in last (a Scan: no index by contact), their own and their leads'."""
        table = dynamodb_table(self._conversations)
        items = all_items(
            table.scan, FilterExpression="contact_id = :contact", ExpressionAttributeValues={":contact": contact_id}
        )
        found = {item["conversation_id"]: item for item in items}
        for conversation_id in [f"contact:{contact_id}", *(f"lead:{lead_id}" for lead_id in lead_ids)]:
            if conversation_id not in found:
                item = table.get_item(Key={"conversation_id": conversation_id}, ConsistentRead=True).get("Item")
                if item:
                    found[conversation_id] = item
        return [Conversation.model_validate(plain(item)) for item in found.values()]

    def delete_conversation(self, conversation_id: str) -> None:
        dynamodb_table(self._conversations).delete_item(Key={"conversation_id": conversation_id})

    def delete_triggers(self, lead_id: int) -> list[str]:
        table = dynamodb_table(self._triggers)
        ids = [trigger_id(lead_id, kind) for kind in get_args(TriggerKind)]
        return [
            one for one in ids if "Attributes" in table.delete_item(Key={"trigger_id": one}, ReturnValues="ALL_OLD")
        ]

    def delete_follow_ups(self, lead_id: int) -> bool:
        """Delete the lead's follow-up ladder (it holds the contact id and what was sent); True if there was one."""
        if not self._follow_ups:
            return False
        answer = dynamodb_table(self._follow_ups).delete_item(Key={"lead_id": lead_id}, ReturnValues="ALL_OLD")
        return "Attributes" in answer

    def delete_bot_state(self, contact_id: int) -> bool:
        answer = dynamodb_table(self._bot_states).delete_item(Key={"contact_id": contact_id}, ReturnValues="ALL_OLD")
        return "Attributes" in answer

    def delete_cached(self, is_theirs: Callable[[dict[str, Any]], bool]) -> int:
        """Read every idempotency record's cached result (a Scan, page by page) and delete those `is_theirs`."""
        table = dynamodb_table(self._idempotency)
        request: dict[str, Any] = {"ProjectionExpression": "id, #data", "ExpressionAttributeNames": {"#data": "data"}}
        deleted = 0
        while True:
            page = table.scan(**request)
            for item in page.get("Items", []):
                cached = _cached(item)
                if cached is not None and is_theirs(cached):
                    table.delete_item(Key={"id": item["id"]})
                    deleted += 1
            if "LastEvaluatedKey" not in page:
                return deleted
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(contact_id: int) -> dict[str, str]:
    return {"pk": f"{CONSENT_PREFIX}{contact_id}"}


def _cached(item: dict[str, Any]) -> dict[str, Any] | None:
    """An idempotency record's cached result (Powertools keeps it as JSON text), when it is an object."""
    try:
        cached = json.loads(item.get("data") or "null")
    except ValueError:
        return None
    return cached if isinstance(cached, dict) else None
