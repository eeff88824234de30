"""Conversations in DynamoDB: the debounce buffer, the in-flight lease and recent turns."""

from __future__ import annotations

import time
from typing import Any

from sales_assistant.adapters.aws import dynamodb_table, is_condition_failure, plain, storable
from sales_assistant.models.conversation import Conversation, KommoSnapshot
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Turn
from sales_assistant.models.trigger import capped_data
from sales_assistant.observability import logger


class DynamoConversationRepository:
    """One item per conversation (`lead:<id>`), expiring `ttl_seconds` after its last change."""

    def __init__(self, table_name: str, ttl_seconds: int, max_turns: int) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds
        self._max_turns = max_turns

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def get(self, conversation_id: str) -> Conversation | None:
        item = self._table.get_item(Key={"conversation_id": conversation_id}, ConsistentRead=True).get("Item")
        return Conversation.model_validate(plain(item)) if item else None

    def append(self, message: ChatMessage, now: int) -> int:
        """Add a client message to the buffer; returns the conversation's new seq. The message opens the
        WhatsApp 24-hour window at the earlier of Kommo's `created_at` and the time it was received (`now`),
        so a webhook Kommo retried an hour late never makes a closed window look open; an older message
        that arrives after a newer one never moves the window back."""
        self._update_if(  # first, so that a retry after a failure in between appends the message only once
            message.conversation_id,
            UpdateExpression="SET last_client_message_at = :at",
            ConditionExpression="attribute_not_exists(last_client_message_at) OR last_client_message_at < :at",
            ExpressionAttributeValues={":at": min(message.created_at, now)},
        )
        updated = self._table.update_item(
            Key={"conversation_id": message.conversation_id},
            UpdateExpression=(
                "SET #buffer = list_append(if_not_exists(#buffer, :empty), :message), lead_id = :lead, "
                "contact_id = :contact, expires_at = :expires ADD seq :one"
            ),
            ExpressionAttributeNames={"#buffer": "buffer"},
            ExpressionAttributeValues={
                ":empty": [],
                ":message": [message.model_dump(mode="json")],
                ":lead": message.lead_id,
                ":contact": message.contact_id,
                ":expires": now + self._ttl_seconds,
                ":one": 1,
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(updated["Attributes"]["seq"])

    def claim(
        self, conversation_id: str, seq: int, owner: str, lease_until_ms: int, now_ms: int
    ) -> Conversation | None:
        """Take the buffer as the in-flight batch under a lease, if `seq` is still the latest, the buffer
        is not empty and no other batch is in flight (or its lease expired). None otherwise."""
        return self._update_if(
            conversation_id,
            UpdateExpression=(
                "SET in_flight = list_append(if_not_exists(in_flight, :empty), #buffer), #buffer = :empty, "
                "lease_owner = :owner, lease_until_ms = :until"
            ),
            ConditionExpression=(
                "seq = :seq AND size(#buffer) > :zero AND (attribute_not_exists(lease_owner) OR lease_until_ms < :now)"
            ),
            ExpressionAttributeNames={"#buffer": "buffer"},
            ExpressionAttributeValues={
                ":empty": [],
                ":owner": owner,
                ":until": lease_until_ms,
                ":seq": seq,
                ":zero": 0,
                ":now": now_ms,
            },
        )

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> Conversation | None:
        """Extend the lease `owner` holds (a retried job taking its own batch back); None if it lost it."""
        return self._update_if(
            conversation_id,
            UpdateExpression="SET lease_until_ms = :until",
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues={":until": lease_until_ms, ":owner": owner},
        )

    def acquire(
        self, conversation_id: str, lead_id: int, contact_id: int, owner: str, lease_until_ms: int, free_after: int
    ) -> Conversation | None:
        """Take the conversation's lease to write first (no client batch): only when no batch is in flight
        and nothing was delivered after `free_after` (the minimum gap). None when busy."""
        now = int(time.time())
        return self._update_if(
            conversation_id,
            UpdateExpression=(
                "SET lease_owner = :owner, lease_until_ms = :until, lead_id = if_not_exists(lead_id, :lead), "
                "contact_id = if_not_exists(contact_id, :contact), expires_at = :expires"
            ),
            ConditionExpression=(
                "(attribute_not_exists(lease_owner) OR lease_until_ms < :now_ms) "
                "AND (attribute_not_exists(last_delivery_at) OR last_delivery_at <= :free_after)"
            ),
            ExpressionAttributeValues={
                ":owner": owner,
                ":until": lease_until_ms,
                ":lead": lead_id,
                ":contact": contact_id,
                ":expires": now + self._ttl_seconds,
                ":now_ms": now * 1000,
                ":free_after": free_after,
            },
        )

    def set_context(self, conversation_id: str, context: dict[str, Any], now: int) -> None:
        """Keep what opened the conversation (a proactive trigger and its data) for n8n; `sent_at` in it
        marks when the assistant wrote first. Its data is kept within MAX_DATA_BYTES, so that the
        conversation item always has room for the client's messages."""
        data, dropped = capped_data(context.get("data") or {})
        if dropped:
            logger.warning("trigger data over its bound: keys not copied", extra={"dropped": dropped})
        context = {**context, "data": data}
        expression = "SET proactive = :context, expires_at = :expires"
        values: dict[str, Any] = {":context": storable(context), ":expires": now + self._ttl_seconds}
        if context.get("sent_at"):
            expression += ", proactive_at = :sent"
            values[":sent"] = context["sent_at"]
        self._table.update_item(
            Key={"conversation_id": conversation_id},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    def remember_kommo(self, conversation_id: str, snapshot: KommoSnapshot) -> None:
        """Keep the lead and contact just read from Kommo on the conversation (the next batch reuses them)."""
        self._update_if(
            conversation_id,
            UpdateExpression="SET kommo_snapshot = :snapshot",
            ConditionExpression="attribute_exists(conversation_id)",
            ExpressionAttributeValues={":snapshot": snapshot.model_dump_json(by_alias=True)},
        )

    def forget_kommo(self, conversation_id: str, now: int) -> None:
        """A lead event came: what was read from Kommo before `now` is not used again."""
        self._update_if(
            conversation_id,
            UpdateExpression="SET kommo_stale_before = :now",
            ConditionExpression="attribute_exists(conversation_id)",
            ExpressionAttributeValues={":now": now},
        )

    def mark_sending(self, conversation_id: str, owner: str, message_ids: list[str], lease_until_ms: int) -> bool:
        """Right before sending: renew `owner`'s lease and record which client messages are being answered;
        False when `owner` lost the lease (nothing must be sent)."""
        updated = self._update_if(
            conversation_id,
            UpdateExpression="SET lease_until_ms = :until, answered_ids = :ids",
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues={":until": lease_until_ms, ":owner": owner, ":ids": message_ids},
        )
        return updated is not None

    def _update_if(self, conversation_id: str, **request: Any) -> Conversation | None:
        """A conditional update returning the conversation after it, or None when the condition failed."""
        try:
            updated = self._table.update_item(
                Key={"conversation_id": conversation_id}, ReturnValues="ALL_NEW", **request
            )
        except Exception as error:
            if is_condition_failure(error):
                return None
            raise
        return Conversation.model_validate(plain(updated["Attributes"]))

    def finish(
        self, conversation_id: str, owner: str, turns: list[Turn], delivered_at: int | None, now: int
    ) -> Conversation | None:
        """Record the batch's turns, clear it and release the lease; returns the conversation after, or
        None when `owner` no longer holds the lease (nothing is written then)."""
        expression = (
            "SET in_flight = :empty, turns = list_append(if_not_exists(turns, :empty), :turns), expires_at = :expires"
        )
        values: dict[str, Any] = {
            ":empty": [],
            ":turns": [turn.model_dump() for turn in turns],
            ":expires": now + self._ttl_seconds,
            ":owner": owner,
        }
        if delivered_at is not None:
            expression += ", last_delivery_at = :delivered"
            values[":delivered"] = delivered_at
        conversation = self._update_if(
            conversation_id,
            UpdateExpression=expression + " REMOVE lease_owner, lease_until_ms, answered_ids",
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues=values,
        )
        if conversation is not None:
            self._trim(conversation)
        return conversation

    def add_turns(self, conversation_id: str, turns: list[Turn], now: int) -> None:
        """Record turns outside a batch (a salesperson's message, a client's message while paused)."""
        updated = self._table.update_item(
            Key={"conversation_id": conversation_id},
            UpdateExpression="SET turns = list_append(if_not_exists(turns, :empty), :turns), expires_at = :expires",
            ExpressionAttributeValues={
                ":empty": [],
                ":turns": [turn.model_dump() for turn in turns],
                ":expires": now + self._ttl_seconds,
            },
            ReturnValues="ALL_NEW",
        )
        self._trim(Conversation.model_validate(plain(updated["Attributes"])))

    def _trim(self, conversation: Conversation) -> None:
        """Keep the last `max_turns` turns once the list has grown to twice that (one write in many)."""
        if len(conversation.turns) <= 2 * max(self._max_turns, 1):
            return
        kept = conversation.turns[-self._max_turns :] if self._max_turns else []
        try:
            self._table.update_item(
                Key={"conversation_id": conversation.conversation_id},
                UpdateExpression="SET turns = :kept",
                ConditionExpression="size(turns) = :seen",
                ExpressionAttributeValues={
                    ":kept": [turn.model_dump() for turn in kept],
                    ":seen": len(conversation.turns),
                },
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise
